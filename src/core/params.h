/* SPDX-License-Identifier: MIT */
/* The parameters the core runs with. The core never reads the options
 * (control/) itself: the api layer copies what the core needs from them into
 * cairn_core during initialisation, after the options are parsed and before
 * the arenas are set up (api/init.c, cairn_init_slow), and nothing changes them
 * afterwards but mallctl, where a field says so (a unit test may, to drive
 * decay). Until then every field is
 * zero, as the options themselves were before they were parsed; no core code
 * that reads them runs before that. Types and meanings are those of the
 * options of the same names (control/options.def). */
#ifndef CAIRN_CORE_PARAMS_H
#define CAIRN_CORE_PARAMS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

/* The values of the thp option, in its order. */
enum core_thp { CORE_THP_DEFAULT, CORE_THP_ALWAYS, CORE_THP_NEVER };
/* The values of the metadata_thp option, in its order. */
enum core_metadata_thp {
	CORE_METADATA_THP_DISABLED,
	CORE_METADATA_THP_AUTO,
	CORE_METADATA_THP_ALWAYS,
};

struct core_params {
	int64_t dirty_decay_ms; /* -1: never */
	int64_t muzzy_decay_ms; /* -1: never, 0: no muzzy stage */
	bool retain;            /* keep empty chunks' address space */
	/* These two change at run time too (mallctl background_thread and
	 * max_background_threads: background_set in background.c), while
	 * other threads read them: hence atomic. */
	_Atomic bool background_thread;          /* purge from purging threads */
	_Atomic unsigned max_background_threads; /* at least 1 */
	unsigned thp;                            /* enum core_thp */
	unsigned metadata_thp;                   /* enum core_metadata_thp */
};

extern struct core_params cairn_core HIDDEN;

#endif
