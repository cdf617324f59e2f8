/* SPDX-License-Identifier: MIT */
/* The statistics reports the options ask for (stats_report.c): at exit
 * (stats_print) and every stats_interval bytes allocated. */
#ifndef CAIRN_API_STATS_REPORT_H
#define CAIRN_API_STATS_REPORT_H

/* Arms the stats_interval report; once the options are parsed. */
void stats_report_init(void);
/* Writes the stats_interval report if it is due (and no other thread is
 * writing it); from a slow path, with no lock held. */
void stats_interval_poll(void);

#endif
