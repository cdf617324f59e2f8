/* SPDX-License-Identifier: MIT */
/* The mallctl tree: the walk by name and by MIB, the root and the small
 * subtrees (version, epoch, config, opt, background_thread); the larger
 * subtrees are in ctl_stats.c, ctl_arena.c and ctl_thread.c. ctl_tree.h
 * says how a tree is built. */
#include "control/ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "cairn.h"
#include "control/conf.h"
#include "control/ctl_tree.h"
#include "control/stats.h"
#include "core/background.h"

#define MAX_DEPTH 8

int ctl_give(struct io *io, const void *value, size_t size)
{
	if (io->oldp == NULL || io->oldlenp == NULL)
		return 0;
	if (*io->oldlenp != size) {
		size_t copy = *io->oldlenp < size ? *io->oldlenp : size;
		memcpy(io->oldp, value, copy);
		*io->oldlenp = copy;
		return EINVAL;
	}
	memcpy(io->oldp, value, size);
	return 0;
}

bool ctl_writes(const struct io *io)
{
	return io->newp != NULL || io->newlen != 0;
}

bool ctl_reads(const struct io *io)
{
	return io->oldp != NULL || io->oldlenp != NULL;
}

int ctl_take(const struct io *io, void *out, size_t size)
{
	if (!ctl_writes(io))
		return 0;
	if (io->newp == NULL || io->newlen != size)
		return EINVAL;
	memcpy(out, io->newp, size);
	return 0;
}

/* ------------------------------------------------------------ leaves */

/* Gives v out in the C type that type names. */
static int give_typed(struct io *io, enum value_type type, uint64_t v)
{
	union {
		bool b;
		unsigned u;
		uint32_t u32;
		size_t z;
		ssize_t sz;
		uint64_t u64;
		const char *str;
	} out;
	size_t size;
	switch (type) {
	case V_BOOL:
		out.b = v != 0;
		size = sizeof out.b;
		break;
	case V_UNSIGNED:
		out.u = (unsigned)v;
		size = sizeof out.u;
		break;
	case V_UINT32:
		out.u32 = (uint32_t)v;
		size = sizeof out.u32;
		break;
	case V_SIZE:
		out.z = (size_t)v;
		size = sizeof out.z;
		break;
	case V_SSIZE:
		out.sz = (ssize_t)v;
		size = sizeof out.sz;
		break;
	case V_UINT64:
		out.u64 = v;
		size = sizeof out.u64;
		break;
	default:
		out.str = (const char *)(uintptr_t)v;
		size = sizeof out.str;
		break;
	}
	return ctl_give(io, &out, size);
}

int ctl_read_value(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	return give_typed(io, n->type, n->get(n, mib));
}

uint64_t ctl_get_false(const struct node *n, const size_t *mib)
{
	return 0;
}

uint64_t ctl_get_true(const struct node *n, const size_t *mib)
{
	return 1;
}

uint64_t ctl_get_empty_string(const struct node *n, const size_t *mib)
{
	return (uintptr_t) "";
}

uint64_t ctl_get_stat(const struct node *n, const size_t *mib)
{
	uint64_t v = 0;
	stats_read(n->arg, &v);
	return v;
}

static uint64_t get_version(const struct node *n, const size_t *mib)
{
	return (uintptr_t)CAIRN_VERSION;
}

/* background_thread: whether decay runs in purging threads. Turning it
 * off stops them before returning (and the slow paths take decay over),
 * turning it on starts them. jemalloc's answer for threads that cannot be
 * started is EAGAIN. */
static int rw_background_thread(const struct node *n, const size_t *mib, size_t miblen,
                                struct io *io)
{
	bool old = background_enabled(), on;
	int rc = ctl_take(io, &on, sizeof on);
	if (rc != 0)
		return rc;
	if (ctl_writes(io) && !background_set(on, 0))
		return EAGAIN;
	return ctl_give(io, &old, sizeof old);
}

/* max_background_threads: at most the option's value, as in jemalloc
 * (which takes the option as the ceiling); 0 means the option's value.
 * Running threads are restarted with the new number. */
static int rw_max_background_threads(const struct node *n, const size_t *mib, size_t miblen,
                                     struct io *io)
{
	size_t old = atomic_load(&cairn_core.max_background_threads), max;
	int rc = ctl_take(io, &max, sizeof max);
	if (rc != 0)
		return rc;
	if (ctl_writes(io)) {
		if (max > cairn_conf.max_background_threads)
			return EINVAL;
		if (max == 0)
			max = cairn_conf.max_background_threads;
		if (!background_set(background_enabled(), (unsigned)max))
			return EAGAIN;
	}
	return ctl_give(io, &old, sizeof old);
}

static int rw_epoch(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	uint64_t e;
	if (ctl_writes(io)) {
		if (io->newp == NULL || io->newlen != sizeof(uint64_t))
			return EINVAL;
		stats_refresh();
	}
	stats_read("epoch", &e);
	return ctl_give(io, &e, sizeof e);
}

/* jemalloc's options that cairn does not have, as opt.<name> answers them:
 * with the value that turns the feature off or, where there is none,
 * jemalloc's default (which then has no meaning in cairn). jemalloc's utrace and
 * xmalloc are not here: a jemalloc built without them answers ENOENT, as
 * Debian's does, and so does cairn. Read by name after options.def's. */
static const struct {
	const char *name;
	enum value_type type;
	uint64_t value; /* a string's address for V_STRING */
} fixed_opts[] = {
    {"abort", V_BOOL, 0},
    {"cache_oblivious", V_BOOL, 0},
    {"trust_madvise", V_BOOL, 0},
    {"dss", V_STRING, (uintptr_t) "disabled"},
    {"oversize_threshold", V_SIZE, 0},
    {"percpu_arena", V_STRING, (uintptr_t) "disabled"},
    {"lg_extent_max_active_fit", V_SIZE, 6},
    /* cairn's realloc(p, 0) frees p, as jemalloc's default "free". */
    {"zero_realloc", V_STRING, (uintptr_t) "free"},
};
#define NFIXED_OPTS (sizeof fixed_opts / sizeof fixed_opts[0])

/* The option named by the node ("opt.<name>"): one of options.def's as
 * conf_read reads it, or one of fixed_opts. */
static int read_opt(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	size_t i = mib[miblen - 1];
	if (i >= conf_noptions)
		return give_typed(io, fixed_opts[i - conf_noptions].type,
		                  fixed_opts[i - conf_noptions].value);
	if (io->oldp == NULL || io->oldlenp == NULL)
		return 0;
	return conf_read(conf_options[i].name, io->oldp, io->oldlenp);
}

/* ------------------------------------------------------------ the root */

static const struct node config_kids[] = {
    VALUE("cache_oblivious", V_BOOL, ctl_get_false),
    VALUE("debug", V_BOOL, ctl_get_false),
    VALUE("fill", V_BOOL, ctl_get_true),
    VALUE("lazy_lock", V_BOOL, ctl_get_false),
    VALUE("malloc_conf", V_STRING, ctl_get_empty_string),
    /* The profiler is always built in; it unwinds with libgcc's
     * unwinder (src/prof/unwind.c). */
    VALUE("prof", V_BOOL, ctl_get_true),
    VALUE("prof_libgcc", V_BOOL, ctl_get_true),
    VALUE("prof_libunwind", V_BOOL, ctl_get_false),
    VALUE("stats", V_BOOL, ctl_get_true),
    VALUE("utrace", V_BOOL, ctl_get_false),
    VALUE("xmalloc", V_BOOL, ctl_get_false),
};

static const struct node root_kids[] = {
    VALUE("version", V_STRING, get_version),
    LEAF("epoch", rw_epoch),
    INNER("config", config_kids),
    {.name = "opt", .leaf = read_opt, .dynamic_opt = true},
    LINK("stats", ctl_stats_tree),
    LINK("arenas", ctl_arenas_tree),
    LINK("arena", ctl_arena_tree),
    LINK("thread", ctl_thread_tree),
    LINK("tcache", ctl_tcache_tree),
    RW("background_thread", rw_background_thread, V_BOOL),
    RW("max_background_threads", rw_max_background_threads, V_SIZE),
    LINK("prof", ctl_prof_tree),
};

static const struct node root = INNER(NULL, root_kids);

/* ------------------------------------------------------------ walking */

/* The child of n that one step of a MIB names, or NULL. For the opt node,
 * the step is an option's place in conf_options, or conf_noptions plus its
 * place in fixed_opts, and the leaf is the opt node itself. */
static const struct node *step(const struct node *n, size_t i)
{
	if (n->dynamic_opt)
		return i < conf_noptions + NFIXED_OPTS ? n : NULL;
	if (n->kid == NULL)
		return NULL;
	const struct node *k;
	if (n->kid[0].name == NULL)
		k = n->kid[0].valid(i) ? &n->kid[0] : NULL;
	else
		k = i < n->nkids ? &n->kid[i] : NULL;
	return k != NULL && k->link != NULL ? k->link : k;
}

/* The MIB step for the name part [s, s + len) under n, or -1. */
static long name_step(const struct node *n, const char *s, size_t len)
{
	if (n->dynamic_opt) {
		char name[64];
		if (len >= sizeof name)
			return -1;
		memcpy(name, s, len);
		name[len] = '\0';
		const struct conf_option *o = conf_find(name);
		if (o != NULL)
			return o - conf_options;
		for (size_t k = 0; k < NFIXED_OPTS; k++)
			if (strcmp(name, fixed_opts[k].name) == 0)
				return (long)(conf_noptions + k);
		return -1;
	}
	if (n->kid == NULL)
		return -1;
	if (n->kid[0].name == NULL) {
		/* A number in decimal, no sign, no leading zero. */
		size_t v = 0;
		if (len == 0 || len > 9 || (len > 1 && s[0] == '0'))
			return -1;
		for (size_t k = 0; k < len; k++) {
			if (s[k] < '0' || s[k] > '9')
				return -1;
			v = v * 10 + (size_t)(s[k] - '0');
		}
		return n->kid[0].valid(v) ? (long)v : -1;
	}
	for (size_t k = 0; k < n->nkids; k++)
		if (strlen(n->kid[k].name) == len && memcmp(n->kid[k].name, s, len) == 0)
			return (long)k;
	return -1;
}

int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp)
{
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return EINVAL;
	const struct node *n = &root;
	size_t depth = 0;
	for (const char *s = name;;) {
		const char *dot = strchr(s, '.');
		size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (n->leaf != NULL && !n->dynamic_opt)
			return ENOENT; /* a name that goes on past a leaf */
		if (n->dynamic_opt && depth > 1)
			return ENOENT;
		long i = name_step(n, s, len);
		if (i < 0 || depth >= MAX_DEPTH)
			return ENOENT;
		if (depth < *miblenp)
			mibp[depth] = (size_t)i;
		depth++;
		n = step(n, (size_t)i);
		if (dot == NULL)
			break;
		s = dot + 1;
	}
	/* A partial MIB (a prefix to complete) is allowed, as in jemalloc. */
	if (depth > *miblenp)
		return ENOENT;
	*miblenp = depth;
	return 0;
}

int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen)
{
	if (mib == NULL || miblen == 0)
		return ENOENT;
	const struct node *n = &root;
	for (size_t d = 0; d < miblen; d++) {
		if (n->leaf != NULL && !n->dynamic_opt)
			return ENOENT;
		n = step(n, mib[d]);
		if (n == NULL)
			return ENOENT;
	}
	/* Only a leaf does anything; opt alone is an inner name. */
	if (n->leaf == NULL || (n->dynamic_opt && miblen != 2))
		return ENOENT;
	struct io io = {oldp, oldlenp, newp, newlen};
	return n->leaf(n, mib, miblen, &io);
}

int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
	size_t mib[MAX_DEPTH];
	size_t len = MAX_DEPTH;
	int rc = ctl_nametomib(name, mib, &len);
	if (rc != 0)
		return rc;
	return ctl_bymib(mib, len, oldp, oldlenp, newp, newlen);
}
