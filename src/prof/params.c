/* SPDX-License-Identifier: MIT */
#include "prof/params.h"

/* Its own object, so that the dump writer can be linked (in its unit test)
 * without the sampler. */
struct prof_params cairn_prof = {.prefix = "jeprof", .bt_max = 128, .lg_sample = 19};
