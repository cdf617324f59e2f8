/* SPDX-License-Identifier: MIT */
/* mallctl's stats.*: the statistics of the last snapshot, which a write to
 * epoch takes (control/stats.c). */
#include "control/ctl_tree.h"

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

const struct node ctl_stats_tree = INNER("stats", stats_kids);
