/* SPDX-License-Identifier: MIT */
/* cairn: a general-purpose memory allocator.
 *
 * Linking with -lcairn (or preloading libcairn.so) replaces malloc and
 * friends for the whole process: every function below, the glibc aliases
 * (__libc_malloc and the rest) and every C++ operator new/delete form hand
 * out memory that any of the others accept.
 *
 * Size ranges, which decide how a block is served:
 *   small  1 B .. 64 KiB    slabs of equal blocks, 4 size classes a doubling
 *   large  64 KiB .. 1 MiB  page runs inside 2 MiB chunks
 *   huge   above 1 MiB      a mapping of its own, aligned to 2 MiB
 * Every block is at least 16-byte aligned.
 *
 * Options come from the MALLOC_CONF environment variable or from a
 * `const char *malloc_conf = "...";` the program defines, written as
 * "name:value,name:value" with jemalloc's option names. */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION       "0.1.0"

void *malloc(size_t size);
void free(void *ptr);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *ptr, size_t size);
void *reallocarray(void *ptr, size_t nmemb, size_t size);
int posix_memalign(void **memptr, size_t alignment, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
void *memalign(size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);
size_t malloc_usable_size(void *ptr);

/* C23: free with the size (and alignment) the block was requested with. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Options a program may compile in; MALLOC_CONF is read after it, so the
 * environment wins. The prefixed library (below) reads cairn_malloc_conf
 * and CAIRN_MALLOC_CONF instead. */
#ifdef CAIRN_PREFIXED
#define malloc_conf cairn_malloc_conf
#endif
extern const char *malloc_conf;

/* malloc's family under cairn's own names, exported by every build of the
 * library. Linked with -lcairn-prefixed (libcairn-prefixed.so or .a),
 * cairn defines these and replaces nothing: malloc, free, operator new and
 * the rest stay the system's, and a block goes back to the allocator that
 * gave it (a block from cairn_malloc to cairn_free, never to free). In the
 * replacing library, -lcairn, they are the same functions as malloc and
 * its family, and mix with them freely.
 *
 * cairn_usable_size is malloc_usable_size (0 for NULL); cairn_free_sized
 * is free_sized. cairn_realloc_aligned is cairn_realloc for a block that
 * must stay aligned to alignment (a power of two, else NULL with errno
 * EINVAL): NULL is cairn_aligned_alloc, size 0 frees and returns NULL, and
 * a block that moves is aligned in its new place too. The first call of any
 * of them initialises cairn. */
void *cairn_malloc(size_t size);
void *cairn_calloc(size_t nmemb, size_t size);
void *cairn_realloc(void *ptr, size_t size);
void cairn_free(void *ptr);
void cairn_free_sized(void *ptr, size_t size);
void *cairn_aligned_alloc(size_t alignment, size_t size);
void *cairn_realloc_aligned(void *ptr, size_t size, size_t alignment);
size_t cairn_usable_size(const void *ptr);

/* Gives the free pages of one arena (0 .. narenas - 1), or of every arena
 * and the cache of freed huge mappings (arena -1), back to the kernel now,
 * whatever their decay time. Returns the bytes released. malloc_trim(0)
 * does the same for everything and returns 1 if anything was released. */
size_t cairn_purge(int arena);
int malloc_trim(size_t pad);

/* Statistics (README, "Statistics" lists them all): cairn_stats_refresh
 * takes a new snapshot of every counter and returns how many snapshots were
 * taken so far; cairn_stats_read reads one value of the last snapshot by
 * name ("allocated", "resident", "bins.3.nmalloc", ...; a first read takes a
 * snapshot itself) and returns 0, or ENOENT for an unknown name, EINVAL
 * for a NULL argument. */
uint64_t cairn_stats_refresh(void);
int cairn_stats_read(const char *name, uint64_t *value);

/* Heaps of the program's own: a heap is an arena created for the program
 * (the same as mallctl's arenas.create), used only by the calls that name
 * it. Its blocks are freed with free (or realloc'd, or dallocx'd) from any
 * thread, like every other block; cairn_heap_reset frees every block in
 * it at once and keeps the heap, cairn_heap_destroy frees every block and
 * the heap. After either, a pointer to one of its blocks is invalid:
 * freeing it is reported as an invalid pointer. Allocating from a heap
 * from several threads at once is safe (it is locked); resetting or
 * destroying it while another thread still uses it or its blocks is the
 * program's error, and so is naming a destroyed heap.
 *
 * The allocating calls fail as malloc does: NULL with errno ENOMEM (EINVAL
 * for an alignment that is not a power of two). cairn_heap_create fails
 * with ENOMEM, or EAGAIN when 4095 arenas exist already.
 * cairn_heap_realloc(h, NULL, n) is cairn_heap_malloc(h, n); a block that
 * moves goes into h; size 0 resizes to the least block (it does not
 * free). cairn_heap_arena gives the heap's arena number, which mallctl's
 * arena.<i>.* names and MALLOCX_ARENA(i) take. */
typedef struct cairn_heap cairn_heap_t;

cairn_heap_t *cairn_heap_create(void);
unsigned cairn_heap_arena(const cairn_heap_t *heap);
void *cairn_heap_malloc(cairn_heap_t *heap, size_t size);
void *cairn_heap_calloc(cairn_heap_t *heap, size_t nmemb, size_t size);
void *cairn_heap_aligned_alloc(cairn_heap_t *heap, size_t alignment, size_t size);
void *cairn_heap_realloc(cairn_heap_t *heap, void *ptr, size_t size);
void cairn_heap_reset(cairn_heap_t *heap);
void cairn_heap_destroy(cairn_heap_t *heap);

/* The library's version string, "0.1.0". */
const char *cairn_version(void);

#ifdef __cplusplus
}
#endif

#endif
