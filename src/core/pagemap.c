#include "core/chunk.h"

#include "os/os.h"

struct pagemap cairn_pagemap;

/* 47 bits of user address space, one word per 2 MiB: 2^26 words, 512 MiB
 * of address space reserved without commit charge; only the pages for
 * address ranges cairn uses are ever touched. */
#define MAP_ADDRESS_BITS 47

bool pagemap_init(void)
{
	size_t n = (size_t)1 << (MAP_ADDRESS_BITS - CHUNK_SHIFT);
	void *m = os_map_noreserve(n * sizeof(uintptr_t));
	if (m == NULL)
		return false;
	cairn_pagemap.entries = m;
	atomic_thread_fence(memory_order_release);
	cairn_pagemap.limit = n;
	return true;
}
