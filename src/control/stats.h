/* SPDX-License-Identifier: MIT */
/* The statistics as programs read them: the last snapshot (core/stats.h),
 * by name. The names are those of src/core/stats.def, and
 * "bins.<class>.<name>" for the per-class ones ("bins.<class>.size" is the
 * class's block size), "lextents.<class>.<name>" for the per-large-class
 * ones ("lextents.<class>.size"), "arenas.<i>.<name>" and
 * "arenas.<i>.bins.<class>.<name>", "arenas.<i>.lextents.<class>.<name>"
 * for one automatic arena's (i = 4096: their sums), and "epoch", how many
 * snapshots were taken. */
#ifndef CAIRN_CONTROL_STATS_H
#define CAIRN_CONTROL_STATS_H

#include <stdint.h>

/* Takes a new snapshot; returns the new epoch. */
uint64_t stats_refresh(void);
/* Reads one value of the last snapshot (taking the first if none was):
 * 0, or ENOENT for a name that is no statistic. */
int stats_read(const char *name, uint64_t *value);

#endif
