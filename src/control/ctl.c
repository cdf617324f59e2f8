/* SPDX-License-Identifier: MIT */
/* The mallctl tree. Every name is a path of nodes: inner nodes have named
 * children, or numbered ones (an arena <i>, a size class <j>); leaves read
 * or write one value, or do one thing. A MIB is the same path as numbers:
 * a named child's place among its siblings, a numbered child's number. */
#include "control/ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cairn.h"
#include "control/conf.h"
#include "control/stats.h"
#include "core/arena.h"
#include "core/decay.h"
#include "core/heap.h"
#include "core/sizeclass.h"
#include "os/os.h"

#define MAX_DEPTH 8
/* jemalloc's MALLCTL_ARENAS_ALL: arena.<i> for every arena. */
#define ARENAS_ALL 4096

struct io {
	void *oldp;
	size_t *oldlenp;
	void *newp;
	size_t newlen;
};

enum value_type { V_BOOL, V_UNSIGNED, V_UINT32, V_SIZE, V_UINT64, V_STRING };

struct node;
/* A leaf: mib holds the whole path, so that numbered parts can be read. */
typedef int leaf_fn(const struct node *n, const size_t *mib, size_t miblen, struct io *io);

struct node {
	const char *name;       /* NULL: numbered children, see valid */
	const struct node *kid; /* the children, in order (NULL for a leaf) */
	size_t nkids;
	leaf_fn *leaf;
	const char *arg;         /* a leaf's: the statistic, say */
	bool (*valid)(size_t i); /* a numbered child: the numbers it takes */
	bool dynamic_opt;        /* the opt node: its children are the options */
	enum value_type type;    /* a read_value leaf's */
	uint64_t (*get)(const struct node *n, const size_t *mib);
};

/* Reads value (size bytes) out: jemalloc's protocol. With no place to
 * write, nothing is read; a place of another size gets what fits, and
 * EINVAL. */
static int give(struct io *io, const void *value, size_t size)
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

static bool writes(const struct io *io)
{
	return io->newp != NULL || io->newlen != 0;
}

static bool reads(const struct io *io)
{
	return io->oldp != NULL || io->oldlenp != NULL;
}

/* ------------------------------------------------------------ leaves */

/* A read-only value: the node's getter gives it, read_value gives it out
 * in the node's type. Strings travel as their address. */
static int read_value(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (writes(io))
		return EPERM;
	uint64_t v = n->get(n, mib);
	union {
		bool b;
		unsigned u;
		uint32_t u32;
		size_t z;
		uint64_t u64;
		const char *str;
	} out;
	size_t size;
	switch (n->type) {
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
	case V_UINT64:
		out.u64 = v;
		size = sizeof out.u64;
		break;
	default:
		out.str = (const char *)(uintptr_t)v;
		size = sizeof out.str;
		break;
	}
	return give(io, &out, size);
}

static uint64_t get_false(const struct node *n, const size_t *mib)
{
	return 0;
}

static uint64_t get_true(const struct node *n, const size_t *mib)
{
	return 1;
}

static uint64_t get_empty_string(const struct node *n, const size_t *mib)
{
	return (uintptr_t) "";
}

static uint64_t get_version(const struct node *n, const size_t *mib)
{
	return (uintptr_t)CAIRN_VERSION;
}

/* A statistic of the last snapshot (taken at the last write to epoch). */
static uint64_t get_stat(const struct node *n, const size_t *mib)
{
	uint64_t v = 0;
	stats_read(n->arg, &v);
	return v;
}

static uint64_t get_narenas(const struct node *n, const size_t *mib)
{
	return cairn_narenas;
}

static uint64_t get_page(const struct node *n, const size_t *mib)
{
	return PAGE_SIZE;
}

static uint64_t get_quantum(const struct node *n, const size_t *mib)
{
	return 16;
}

static uint64_t get_tcache_max(const struct node *n, const size_t *mib)
{
	return cairn_tcache_max_class < 0 ? 0 : sc_size[cairn_tcache_max_class];
}

static uint64_t get_nbins(const struct node *n, const size_t *mib)
{
	return SC_NSMALL;
}

static uint64_t get_nlextents(const struct node *n, const size_t *mib)
{
	return SC_NCLASSES - SC_NSMALL;
}

/* arenas.bin.<j>.* and arenas.lextent.<j>.*: mib[2] is j. */
static uint64_t get_bin_size(const struct node *n, const size_t *mib)
{
	return sc_size[mib[2]];
}

static uint64_t get_bin_nregs(const struct node *n, const size_t *mib)
{
	return sc_slab_blocks[mib[2]];
}

static uint64_t get_bin_slab_size(const struct node *n, const size_t *mib)
{
	return (uint64_t)sc_slab_pages[mib[2]] << PAGE_SHIFT;
}

static uint64_t get_lextent_size(const struct node *n, const size_t *mib)
{
	return sc_size[SC_NSMALL + mib[2]];
}

static uint64_t get_background_thread(const struct node *n, const size_t *mib)
{
	return cairn_conf.background_thread;
}

static uint64_t get_max_background_threads(const struct node *n, const size_t *mib)
{
	return cairn_conf.max_background_threads;
}

static int rw_epoch(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	uint64_t e;
	if (writes(io)) {
		if (io->newp == NULL || io->newlen != sizeof(uint64_t))
			return EINVAL;
		stats_refresh();
	}
	stats_read("epoch", &e);
	return give(io, &e, sizeof e);
}

/* The option named by the node ("opt.<name>"), as conf_read reads it;
 * opt.prof (no profiler yet) reads false. */
static int read_opt(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (writes(io))
		return EPERM;
	size_t i = mib[miblen - 1];
	if (i == conf_noptions) {
		bool off = false;
		return give(io, &off, sizeof off);
	}
	if (io->oldp == NULL || io->oldlenp == NULL)
		return 0;
	return conf_read(conf_options[i].name, io->oldp, io->oldlenp);
}

/* arena.<i>.purge and arena.<i>.decay: mib[1] is i, ARENAS_ALL for all.
 * Actions: nothing is read or written. */
static int do_purge(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (writes(io) || reads(io))
		return EPERM;
	bool force = strcmp(n->name, "purge") == 0;
	if (mib[1] == ARENAS_ALL) {
		purge_all(force);
		return 0;
	}
	if (mib[1] >= cairn_narenas)
		return EFAULT;
	if (force)
		purge_arena(&cairn_arenas[mib[1]]);
	else
		arena_decay(&cairn_arenas[mib[1]], os_now_ms(), false);
	return 0;
}

static int do_tcache_flush(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (writes(io) || reads(io))
		return EPERM;
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD)
		heap_flush(h);
	return 0;
}

/* ------------------------------------------------------------ the tree */

#define LEAF(nm, fn)                                                                               \
	{                                                                                          \
		.name = nm, .leaf = fn                                                             \
	}
#define VALUE(nm, t, getter)                                                                       \
	{                                                                                          \
		.name = nm, .leaf = read_value, .type = t, .get = getter                           \
	}
#define STAT(nm, t, stat)                                                                          \
	{                                                                                          \
		.name = nm, .leaf = read_value, .type = t, .get = get_stat, .arg = stat            \
	}
#define INNER(nm, kids)                                                                            \
	{                                                                                          \
		.name = nm, .kid = kids, .nkids = sizeof(kids) / sizeof(kids[0])                   \
	}
#define NUMBERED(kids, how)                                                                        \
	{                                                                                          \
		.kid = kids, .nkids = sizeof(kids) / sizeof(kids[0]), .valid = how                 \
	}

static bool valid_bin(size_t j)
{
	return j < SC_NSMALL;
}

static bool valid_lextent(size_t j)
{
	return j < SC_NCLASSES - SC_NSMALL;
}

/* arena.<i>: an arena's number, or ARENAS_ALL. As in jemalloc, the number
 * one past the last arena is a name too, of an arena that does not exist
 * (EFAULT when used). */
static bool valid_arena(size_t i)
{
	return i <= cairn_narenas || i == ARENAS_ALL;
}

static const struct node config_kids[] = {
    VALUE("debug", V_BOOL, get_false),          VALUE("fill", V_BOOL, get_true),
    VALUE("lazy_lock", V_BOOL, get_false),      VALUE("malloc_conf", V_STRING, get_empty_string),
    VALUE("prof", V_BOOL, get_false),           VALUE("prof_libgcc", V_BOOL, get_false),
    VALUE("prof_libunwind", V_BOOL, get_false), VALUE("stats", V_BOOL, get_true),
    VALUE("utrace", V_BOOL, get_false),         VALUE("xmalloc", V_BOOL, get_false),
};

static const struct node bg_stats_kids[] = {
    STAT("num_threads", V_SIZE, "background_threads"),
    STAT("num_runs", V_UINT64, "background_runs"),
};

static const struct node stats_kids[] = {
    STAT("allocated", V_SIZE, "allocated"),    STAT("active", V_SIZE, "active"),
    STAT("metadata", V_SIZE, "metadata"),      STAT("resident", V_SIZE, "resident"),
    STAT("mapped", V_SIZE, "mapped"),          STAT("retained", V_SIZE, "retained"),
    INNER("background_thread", bg_stats_kids),
};

static const struct node bin_kids[] = {
    VALUE("size", V_SIZE, get_bin_size),
    VALUE("nregs", V_UINT32, get_bin_nregs),
    VALUE("slab_size", V_SIZE, get_bin_slab_size),
};
static const struct node bin_numbered[] = {NUMBERED(bin_kids, valid_bin)};

static const struct node lextent_kids[] = {VALUE("size", V_SIZE, get_lextent_size)};
static const struct node lextent_numbered[] = {NUMBERED(lextent_kids, valid_lextent)};

static const struct node arenas_kids[] = {
    VALUE("narenas", V_UNSIGNED, get_narenas),     VALUE("page", V_SIZE, get_page),
    VALUE("quantum", V_SIZE, get_quantum),         VALUE("tcache_max", V_SIZE, get_tcache_max),
    VALUE("nbins", V_UNSIGNED, get_nbins),         INNER("bin", bin_numbered),
    VALUE("nlextents", V_UNSIGNED, get_nlextents), INNER("lextent", lextent_numbered),
};

static const struct node arena_kids[] = {
    LEAF("purge", do_purge),
    LEAF("decay", do_purge),
};
static const struct node arena_numbered[] = {NUMBERED(arena_kids, valid_arena)};

static const struct node tcache_kids[] = {LEAF("flush", do_tcache_flush)};
static const struct node thread_kids[] = {INNER("tcache", tcache_kids)};

static const struct node root_kids[] = {
    VALUE("version", V_STRING, get_version),
    LEAF("epoch", rw_epoch),
    INNER("config", config_kids),
    {.name = "opt", .leaf = read_opt, .dynamic_opt = true},
    INNER("stats", stats_kids),
    INNER("arenas", arenas_kids),
    INNER("arena", arena_numbered),
    INNER("thread", thread_kids),
    VALUE("background_thread", V_BOOL, get_background_thread),
    VALUE("max_background_threads", V_SIZE, get_max_background_threads),
};

static const struct node root = INNER(NULL, root_kids);

/* ------------------------------------------------------------ walking */

/* The child of n that one step of a MIB names, or NULL. For the opt node,
 * the step is an option's place in conf_options (conf_noptions: opt.prof),
 * and the leaf is the opt node itself. */
static const struct node *step(const struct node *n, size_t i)
{
	if (n->dynamic_opt)
		return i <= conf_noptions ? n : NULL;
	if (n->kid == NULL)
		return NULL;
	if (n->kid[0].name == NULL)
		return n->kid[0].valid(i) ? &n->kid[0] : NULL;
	return i < n->nkids ? &n->kid[i] : NULL;
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
		if (strcmp(name, "prof") == 0)
			return (long)conf_noptions;
		const struct conf_option *o = conf_find(name);
		return o != NULL ? o - conf_options : -1;
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
