/* SPDX-License-Identifier: MIT */
#include "core/params.h"

struct core_params cairn_core;
