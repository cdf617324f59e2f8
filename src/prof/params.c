/* SPDX-License-Identifier: MIT */
#include "prof/params.h"

struct prof_params cairn_prof;
