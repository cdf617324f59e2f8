/* SPDX-License-Identifier: MIT */
/* mallctl's prof.*: the heap profiler's controls (src/prof/profiler.h).
 * With opt.prof false they answer as jemalloc run with prof:false: the
 * switches read false, turning one on is ENOENT (turning one off is
 * allowed: it is off), the actions are ENOENT and the numbers read 0.
 *
 * prof.dump writes a profile (prof/dump.h): to the path written, or with
 * NULL (or nothing written) to the next automatic name, kind 'm'; EFAULT
 * when it cannot be written, as jemalloc. prof.prefix sets the prefix of
 * the automatic names from then on. prof.log_start and prof.log_stop (jemalloc's allocation log)
 * are not cairn's: ENOENT, as jemalloc without opt.prof_log. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "control/ctl_tree.h"
#include "prof/dump.h"
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

static int do_dump(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (!cairn_prof.on)
		return ENOENT;
	if (ctl_reads(io))
		return EPERM;
	const char *path = NULL;
	if (io->newp != NULL) {
		int rc = ctl_take(io, &path, sizeof path);
		if (rc != 0)
			return rc;
	}
	int err = path != NULL ? prof_dump_to(path) : prof_dump_auto(NULL, 'm');
	return err != 0 ? EFAULT : 0;
}

/* Two buffers, so that a dump naming its file while the prefix changes
 * reads one whole prefix, the old or the new (two changes during one
 * naming could still mix them: a program's own race). */
static char prefix_buf[2][PATH_MAX];
static _Atomic unsigned prefix_next;

static int do_prefix(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (!cairn_prof.on)
		return ENOENT;
	if (ctl_reads(io))
		return EPERM;
	const char *prefix = NULL;
	int rc = ctl_take(io, &prefix, sizeof prefix);
	if (rc != 0)
		return rc;
	if (prefix == NULL)
		return EINVAL;
	size_t len = strnlen(prefix, PATH_MAX);
	if (len == 0 || len >= PATH_MAX - 64)
		return EINVAL;
	char *buf = prefix_buf[atomic_fetch_add(&prefix_next, 1) & 1];
	memcpy(buf, prefix, len + 1);
	__atomic_store_n(&cairn_prof.prefix, buf, __ATOMIC_RELEASE);
	return 0;
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
    LEAF("dump", do_dump),
    LEAF("gdump", do_gdump),
    LEAF("prefix", do_prefix),
    LEAF("reset", do_reset),
    VALUE("interval", V_UINT64, get_interval),
    VALUE("lg_sample", V_SIZE, get_lg_sample),
    LEAF("log_start", do_not_logged),
    LEAF("log_stop", do_not_logged),
};

const struct node ctl_prof_tree = INNER("prof", prof_kids);
