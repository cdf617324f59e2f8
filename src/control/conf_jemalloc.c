/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "control/conf.h"

/* jemalloc 5's options that cairn does not have: named apart from a
 * misspelt option, so that a MALLOC_CONF written for jemalloc says which of
 * its settings have no effect here. Options cairn has are in options.def. */
static const char *const jemalloc_only[] = {
    "abort",
    "cache_oblivious",
    "dss",
    "experimental_infallible_new",
    "hpa",
    "hpa_dirty_mult",
    "hpa_hugification_threshold_ratio",
    "hpa_sec_nshards",
    "hpa_slab_max_alloc",
    "lg_extent_max_active_fit",
    "lg_san_uaf_align",
    "lg_tcache_max",
    "mutex_max_spin",
    "oversize_threshold",
    "percpu_arena",
    "san_guard_large",
    "san_guard_small",
    "tcache_gc_delay_bytes",
    "tcache_gc_incr_bytes",
    "tcache_nslots_large",
    "tcache_nslots_small_max",
    "tcache_nslots_small_min",
    "trust_madvise",
    "utrace",
    "xmalloc",
    "zero_realloc",
};

bool conf_jemalloc_option(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(jemalloc_only) / sizeof(jemalloc_only[0]); i++)
		if (strlen(jemalloc_only[i]) == n && memcmp(jemalloc_only[i], s, n) == 0)
			return true;
	return false;
}
