/* SPDX-License-Identifier: MIT */
/* Internal metadata memory: heaps, arenas and huge-block descriptors come
 * from here, never from malloc. Memory is bump-allocated from mappings and
 * never returned; callers keep free lists of what they recycle. */
#ifndef CAIRN_META_H
#define CAIRN_META_H

#include <pthread.h>
#include <stddef.h>

/* Zeroed memory aligned to 64 bytes, or NULL when the OS refuses. */
void *meta_alloc(size_t size);

/* In a fork child, first of all: retires the region being cut if the parent
 * forked while its lock was held. */
void meta_postfork_child(void);

#endif
