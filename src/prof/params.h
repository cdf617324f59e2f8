/* SPDX-License-Identifier: MIT */
/* The parameters the profiler runs with. prof/ never reads the options
 * (control/ is above it): the api layer copies what it needs from them into
 * cairn_prof during initialisation, as it does cairn_core for the core. */
#ifndef CAIRN_PROF_PARAMS_H
#define CAIRN_PROF_PARAMS_H

struct prof_params {
	/* prof_prefix: where automatic dumps go (<prefix>.<pid>.<seq>.<kind>.heap);
	 * NULL until set, read as jemalloc's default "jeprof". */
	const char *prefix;
};

extern struct prof_params cairn_prof;

#endif
