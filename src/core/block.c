/* SPDX-License-Identifier: MIT */
#include "core/block.h"

/* Read-only: nothing may write the end of a list, and a stray write faults
 * at once instead of joining it to something. */
const struct block_end cairn_list_end = {.mark = &cairn_list_end, .next = NULL};
