/* SPDX-License-Identifier: MIT */
/* What the profiler takes of the options: control/ (above prof/) owns them,
 * and the api copies these at initialisation (api/init.c), as it does the
 * core's (core/params.h). Nothing writes them afterwards; what mallctl may
 * change at run time (prof.active, prof.gdump, prof.lg_sample ...) is the
 * profiler's own state (profiler.h). */
#ifndef CAIRN_PROF_PARAMS_H
#define CAIRN_PROF_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

struct prof_params {
	/* prof_prefix: where automatic dumps go
	 * (<prefix>.<pid>.<seq>.<kind>.heap); NULL reads as jemalloc's
	 * default "jeprof". */
	const char *prefix;
	bool on;     /* prof: the profiler is set up and samples */
	bool active; /* prof_active */
	bool thread_active_init;
	unsigned lg_sample;  /* lg_prof_sample */
	bool accum;          /* prof_accum */
	int64_t lg_interval; /* lg_prof_interval, -1: none */
	bool gdump;          /* prof_gdump: a dump at each new peak */
	bool final;          /* prof_final: a dump at exit */
	bool leak;           /* prof_leak */
	bool leak_error;     /* prof_leak_error */
	unsigned bt_max;     /* prof_bt_max: frames kept per stack */
};

extern struct prof_params cairn_prof;

#endif
