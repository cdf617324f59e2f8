/* SPDX-License-Identifier: MIT */
/* The one copy of the fast path's size-to-class table (sizeclass.h). */
#define SC_DEFINE_LOOKUP1
#include "core/sizeclass.h"
