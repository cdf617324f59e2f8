/* SPDX-License-Identifier: MIT */
/* mallctl's prof.*: the heap profiler's controls. cairn has no profiler
 * yet, so they answer as jemalloc built with profiling answers when
 * started with opt.prof false: the switches read false, turning one on is
 * ENOENT (turning prof.active off is allowed: it is off), the actions
 * (dump, prefix, reset, log_*) are ENOENT, and the read-only numbers read
 * 0. The profiler plugs in here: each leaf below becomes the real one
 * once opt.prof can be true. */
#include <errno.h>

#include "control/ctl_tree.h"

/* A switch the profiler would turn: reads false, written is ENOENT. */
static int rw_switch(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (io->newp != NULL)
		return ENOENT;
	bool off = false;
	return ctl_give(io, &off, sizeof off);
}

/* prof.active: as a switch, but writing false (the value it has) is
 * allowed; the value written must be a bool. */
static int rw_active(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (io->newp != NULL) {
		bool on;
		int rc = ctl_take(io, &on, sizeof on);
		if (rc != 0)
			return rc;
		if (on)
			return ENOENT;
	}
	bool off = false;
	return ctl_give(io, &off, sizeof off);
}

/* An action of the profiler's (a dump, a reset...): there is nothing to
 * act on without it. */
static int do_nothing_to_profile(const struct node *n, const size_t *mib, size_t miblen,
                                 struct io *io)
{
	return ENOENT;
}

static uint64_t get_zero(const struct node *n, const size_t *mib)
{
	return 0;
}

static const struct node prof_kids[] = {
    LEAF("thread_active_init", rw_switch),
    LEAF("active", rw_active),
    LEAF("dump", do_nothing_to_profile),
    LEAF("gdump", rw_switch),
    LEAF("prefix", do_nothing_to_profile),
    LEAF("reset", do_nothing_to_profile),
    /* Without opt.prof, jemalloc leaves both at 0. */
    VALUE("interval", V_UINT64, get_zero),
    VALUE("lg_sample", V_SIZE, get_zero),
    LEAF("log_start", do_nothing_to_profile),
    LEAF("log_stop", do_nothing_to_profile),
};

const struct node ctl_prof_tree = INNER("prof", prof_kids);
