/* SPDX-License-Identifier: MIT */
/* mallctl's thread.*: the calling thread's heap (jemalloc's thread cache). */
#include <errno.h>

#include "control/ctl_tree.h"
#include "core/heap.h"

static int do_tcache_flush(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io) || ctl_reads(io))
		return EPERM;
	struct heap *h = heap_self();
	if (h->kind == HEAP_THREAD)
		heap_flush(h);
	return 0;
}

static const struct node tcache_kids[] = {LEAF("flush", do_tcache_flush)};
static const struct node thread_kids[] = {INNER("tcache", tcache_kids)};

const struct node ctl_thread_tree = INNER("thread", thread_kids);
