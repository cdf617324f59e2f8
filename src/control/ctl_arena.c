/* SPDX-License-Identifier: MIT */
/* mallctl's arenas.* (the geometry every arena shares) and arena.<i>.*
 * (one arena, or all of them). */
#include <errno.h>
#include <string.h>

#include "control/ctl_tree.h"
#include "core/arena.h"
#include "core/decay.h"
#include "core/heap.h"
#include "core/sizeclass.h"
#include "os/os.h"

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

/* arena.<i>.purge and arena.<i>.decay: mib[1] is i, ARENAS_ALL for all.
 * Actions: nothing is read or written. */
static int do_purge(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io) || ctl_reads(io))
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

const struct node ctl_arenas_tree = INNER("arenas", arenas_kids);
const struct node ctl_arena_tree = INNER("arena", arena_numbered);
