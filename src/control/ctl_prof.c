/* SPDX-License-Identifier: MIT */
/* mallctl's prof.*: the heap profiler's controls (src/prof/profiler.h).
 * With opt.prof false they answer as jemalloc run with prof:false: the
 * switches read false, turning one on is ENOENT (turning one off is
 * allowed: it is off), the actions are ENOENT and the numbers read 0.
 *
 * prof.dump and prof.prefix are the dump writer's: until it is part of
 * cairn they answer ENOENT, as with prof:false (nothing could be written).
 * prof.log_start and prof.log_stop (jemalloc's allocation log) are not
 * cairn's: ENOENT, as jemalloc without opt.prof_log. */
#include <errno.h>

#include "control/ctl_tree.h"
#include "prof/profiler.h"

/* A bool switch: get and set are the profiler's; with the profiler off it
 * reads false, and writing is ENOENT, as jemalloc has it, but for a false
 * written where off_may_write. */
static int rw_bool(struct io *io, bool (*get)(void), void (*set)(bool), bool off_may_write)
{
	if (!cairn_prof.on && io->newp != NULL && !off_may_write)
		return ENOENT;
	bool on = false;
	if (io->newp != NULL) {
		int rc = ctl_take(io, &on, sizeof on);
		if (rc != 0)
			return rc;
	}
	bool old = cairn_prof.on ? get() : false;
	if (io->newp != NULL) {
		if (!cairn_prof.on)
			return on ? ENOENT : ctl_give(io, &old, sizeof old);
		set(on);
	}
	return ctl_give(io, &old, sizeof old);
}

static int do_active(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	return rw_bool(io, prof_active_get, prof_active_set, true);
}

static int do_thread_active_init(const struct node *n, const size_t *mib, size_t miblen,
                                 struct io *io)
{
	return rw_bool(io, prof_thread_active_init_get, prof_thread_active_init_set, false);
}

static int do_gdump(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	return rw_bool(io, prof_gdump_get, prof_gdump_set, false);
}

/* prof.reset: write-only; a size_t, when given, is the new lg_sample
 * (above 63 taken as 63, as jemalloc does). */
static int do_reset(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (!cairn_prof.on)
		return ENOENT;
	if (ctl_reads(io))
		return EPERM;
	size_t lg = prof_lg_sample();
	if (io->newp != NULL) {
		int rc = ctl_take(io, &lg, sizeof lg);
		if (rc != 0)
			return rc;
		if (lg > 63)
			lg = 63;
	}
	prof_reset((unsigned)lg);
	return 0;
}

/* The dump writer's (see above). */
static int do_until_dumps(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	return ENOENT;
}

static int do_not_logged(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	return ENOENT;
}

static uint64_t get_interval(const struct node *n, const size_t *mib)
{
	if (!cairn_prof.on || cairn_prof.lg_interval < 0)
		return 0;
	return 1ull << cairn_prof.lg_interval;
}

static uint64_t get_lg_sample(const struct node *n, const size_t *mib)
{
	return cairn_prof.on ? prof_lg_sample() : 0;
}

static const struct node prof_kids[] = {
    LEAF("thread_active_init", do_thread_active_init),
    LEAF("active", do_active),
    LEAF("dump", do_until_dumps),
    LEAF("gdump", do_gdump),
    LEAF("prefix", do_until_dumps),
    LEAF("reset", do_reset),
    VALUE("interval", V_UINT64, get_interval),
    VALUE("lg_sample", V_SIZE, get_lg_sample),
    LEAF("log_start", do_not_logged),
    LEAF("log_stop", do_not_logged),
};

const struct node ctl_prof_tree = INNER("prof", prof_kids);
