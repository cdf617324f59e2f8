/* SPDX-License-Identifier: MIT */
/* mallctl's arenas.* (the geometry every arena shares, creating arenas),
 * arena.<i>.* (one arena, or all of them) and tcache.* (explicit caches).
 * Arenas are numbered on from the automatic ones, 0 .. cairn_narenas - 1:
 * arenas.narenas counts every number given so far, as jemalloc's does. */
#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "control/ctl_tree.h"
#include "core/arena.h"
#include "core/decay.h"
#include "core/explicit.h"
#include "core/heap.h"
#include "core/params.h"
#include "core/sizeclass.h"
#include "os/os.h"

static uint64_t get_narenas(const struct node *n, const size_t *mib)
{
	return explicit_narenas();
}

/* The classes a thread cache holds: those up to arenas.tcache_max. */
static uint64_t get_nhbins(const struct node *n, const size_t *mib)
{
	return (uint64_t)(cairn_tcache_max_class + 1);
}

/* Actions (reset, destroy, tcache.create's read) take no value; a leaf
 * that only reads refuses a write. */
static int no_value(struct io *io)
{
	return ctl_writes(io) || ctl_reads(io) ? EPERM : 0;
}

/* arenas.create: cairn has no extent hooks, so an arena asked for with
 * some is refused (EINVAL) rather than made without them; NULL is the
 * default hooks. EAGAIN when no arena can be made, as jemalloc. */
static int do_create(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	void *hooks = NULL;
	int rc = ctl_take(io, &hooks, sizeof hooks);
	if (rc != 0)
		return rc;
	if (hooks != NULL)
		return EINVAL;
	if (io->oldp == NULL || io->oldlenp == NULL || *io->oldlenp != sizeof(unsigned))
		return EINVAL;
	unsigned index;
	if (!explicit_arena_create(&index))
		return EAGAIN;
	return ctl_give(io, &index, sizeof index);
}

/* arenas.lookup: write a pointer, read the number of its arena. */
static int do_lookup(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	void *p = NULL;
	if (!ctl_writes(io))
		return EINVAL;
	int rc = ctl_take(io, &p, sizeof p);
	if (rc != 0)
		return rc;
	unsigned index;
	if (p == NULL || !explicit_lookup(p, &index))
		return EINVAL;
	return ctl_give(io, &index, sizeof index);
}

/* A decay time as jemalloc takes it: -1 (never) or more; set(a, dirty,
 * ms) stores it. */
static void set_default(struct arena *a, bool dirty, int64_t ms)
{
	atomic_store(dirty ? &explicit_dirty_decay_ms : &explicit_muzzy_decay_ms, ms);
}

static int rw_decay_ms(struct arena *a, bool dirty, int64_t current, struct io *io,
                       void (*set)(struct arena *a, bool dirty, int64_t ms))
{
	ssize_t v = (ssize_t)current;
	ssize_t w;
	if (ctl_writes(io)) {
		int rc = ctl_take(io, &w, sizeof w);
		if (rc != 0)
			return rc;
		if (w < -1)
			return EFAULT;
	}
	int rc = ctl_give(io, &v, sizeof v);
	if (rc == 0 && ctl_writes(io))
		set(a, dirty, (int64_t)w);
	return rc;
}

/* arenas.dirty_decay_ms, arenas.muzzy_decay_ms: for arenas created from
 * now on. */
static int rw_default_decay(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	bool dirty = n->name[0] == 'd';
	_Atomic int64_t *slot = dirty ? &explicit_dirty_decay_ms : &explicit_muzzy_decay_ms;
	int64_t ms = atomic_load(slot);
	if (ms == ARENA_DECAY_DEFAULT)
		ms = dirty ? cairn_core.dirty_decay_ms : cairn_core.muzzy_decay_ms;
	return rw_decay_ms(NULL, dirty, ms, io, set_default);
}

/* Arena i, automatic or created and live; NULL for any other number. */
static struct arena *arena_at(size_t i)
{
	if (i < cairn_narenas)
		return &cairn_arenas[i];
	struct explicit_arena *e = explicit_arena_get(i);
	return e != NULL ? &e->arena : NULL;
}

static int rw_arena_decay(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct arena *a = arena_at(mib[1]);
	if (a == NULL)
		return EFAULT;
	bool dirty = n->name[0] == 'd';
	return rw_decay_ms(a, dirty, dirty ? arena_dirty_decay_ms(a) : arena_muzzy_decay_ms(a), io,
	                   arena_set_decay_ms);
}

/* arena.<i>.reset and destroy: created arenas only (EFAULT for the
 * automatic ones and every other number, as jemalloc). */
static int do_reset(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	int rc = no_value(io);
	if (rc != 0)
		return rc;
	bool ok = strcmp(n->name, "reset") == 0 ? explicit_arena_reset(mib[1])
	                                        : explicit_arena_destroy(mib[1]);
	return ok ? 0 : EFAULT;
}

static int read_initialized(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	bool v = mib[1] == ARENAS_ALL || arena_at(mib[1]) != NULL;
	return ctl_give(io, &v, sizeof v);
}

/* arena.<i>.dss: cairn never uses sbrk, as jemalloc built without dss:
 * "disabled" reads, and is the one value a write may give. */
static int rw_dss(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	static const char disabled[] = "disabled";
	const char *w = NULL;
	int rc = ctl_take(io, &w, sizeof w);
	if (rc != 0)
		return rc;
	if (ctl_writes(io)) {
		if (w == NULL)
			return EINVAL;
		if (strcmp(w, "primary") == 0 || strcmp(w, "secondary") == 0)
			return EFAULT;
		if (strcmp(w, disabled) != 0 && strcmp(w, "default") != 0)
			return EINVAL;
	}
	if (mib[1] != ARENAS_ALL && arena_at(mib[1]) == NULL)
		return EFAULT;
	const char *v = disabled;
	return ctl_give(io, &v, sizeof v);
}

/* arena.<i>.extent_hooks: cairn has none; NULL reads, and is the one
 * value a write may give. */
static int rw_extent_hooks(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	void *w = NULL;
	int rc = ctl_take(io, &w, sizeof w);
	if (rc != 0)
		return rc;
	if (arena_at(mib[1]) == NULL)
		return EFAULT;
	if (w != NULL)
		return EINVAL;
	void *v = NULL;
	return ctl_give(io, &v, sizeof v);
}

/* tcache.create, tcache.flush, tcache.destroy. */
static int do_tcache_create(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	if (io->oldp == NULL || io->oldlenp == NULL || *io->oldlenp != sizeof(unsigned))
		return EINVAL;
	unsigned id;
	if (!explicit_tcache_create(&id))
		return EFAULT;
	return ctl_give(io, &id, sizeof id);
}

static int do_tcache_op(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_reads(io))
		return EPERM;
	unsigned id = ~0u;
	int rc = ctl_take(io, &id, sizeof id);
	if (rc != 0)
		return rc;
	bool ok =
	    strcmp(n->name, "flush") == 0 ? explicit_tcache_flush(id) : explicit_tcache_destroy(id);
	return ok ? 0 : EFAULT;
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

/* arena.<i>.purge and arena.<i>.decay: mib[1] is i, ARENAS_ALL for all.
 * Actions: nothing is read or written. */
static int do_purge(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io) || ctl_reads(io))
		return EPERM;
	bool force = strcmp(n->name, "purge") == 0;
	/* The number one past the last arena is jemalloc's older spelling
	 * of ARENAS_ALL (redis' MEMORY PURGE uses it). */
	if (mib[1] == ARENAS_ALL || mib[1] == explicit_narenas()) {
		purge_all(force);
		return 0;
	}
	struct arena *a = arena_at(mib[1]);
	if (a == NULL)
		return EFAULT;
	if (force)
		purge_arena(a);
	else
		arena_decay(a, os_now_ms(), false);
	return 0;
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
	return i <= explicit_narenas() || i == ARENAS_ALL;
}

static const struct node bin_kids[] = {
    VALUE("size", V_SIZE, get_bin_size),
    VALUE("nregs", V_UINT32, get_bin_nregs),
    VALUE("slab_size", V_SIZE, get_bin_slab_size),
};
static const struct node bin_numbered[] = {NUMBERED(bin_kids, valid_bin)};

static const struct node lextent_kids[] = {VALUE("size", V_SIZE, get_lextent_size)};
static const struct node lextent_numbered[] = {NUMBERED(lextent_kids, valid_lextent)};

static const struct node arenas_kids[] = {
    VALUE("narenas", V_UNSIGNED, get_narenas),
    VALUE("page", V_SIZE, get_page),
    VALUE("quantum", V_SIZE, get_quantum),
    VALUE("tcache_max", V_SIZE, get_tcache_max),
    VALUE("nbins", V_UNSIGNED, get_nbins),
    INNER("bin", bin_numbered),
    VALUE("nlextents", V_UNSIGNED, get_nlextents),
    INNER("lextent", lextent_numbered),
    VALUE("nhbins", V_UNSIGNED, get_nhbins),
    LEAF("create", do_create),
    LEAF("lookup", do_lookup),
    LEAF("dirty_decay_ms", rw_default_decay),
    LEAF("muzzy_decay_ms", rw_default_decay),
};

static const struct node arena_kids[] = {
    LEAF("purge", do_purge),
    LEAF("decay", do_purge),
    LEAF("reset", do_reset),
    LEAF("destroy", do_reset),
    LEAF("initialized", read_initialized),
    LEAF("dirty_decay_ms", rw_arena_decay),
    LEAF("muzzy_decay_ms", rw_arena_decay),
    LEAF("dss", rw_dss),
    LEAF("extent_hooks", rw_extent_hooks),
};
static const struct node arena_numbered[] = {NUMBERED(arena_kids, valid_arena)};

static const struct node tcache_kids[] = {
    LEAF("create", do_tcache_create),
    LEAF("flush", do_tcache_op),
    LEAF("destroy", do_tcache_op),
};

const struct node ctl_arenas_tree = INNER("arenas", arenas_kids);
const struct node ctl_arena_tree = INNER("arena", arena_numbered);
const struct node ctl_tcache_tree = INNER("tcache", tcache_kids);
