/* SPDX-License-Identifier: MIT */
#include "core/counters.h"

struct global_counters cairn_counters;
