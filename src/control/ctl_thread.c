/* SPDX-License-Identifier: MIT */
/* mallctl's thread.*: the calling thread's heap (jemalloc's thread cache),
 * its arena and its counts of bytes allocated and freed (core/tally.h).
 * mallctl attaches the thread's heap before it gets here (api/malloc.c): a
 * thread still without one has thread heaps turned off (tcache:false, junk,
 * zero), and then is what jemalloc's thread without a tcache is. */
#include <errno.h>
#include <string.h>

#include "control/ctl_tree.h"
#include "core/arena.h"
#include "core/heap.h"
#include "core/tally.h"
#include "prof/params.h"

static struct heap *own_heap(void)
{
	struct heap *h = heap_self();
	return h->kind == HEAP_THREAD ? h : NULL;
}

/* thread.arena: the arena the heap takes slabs and runs from. Writing moves
 * the thread's next slabs and runs there; what the heap holds stays where
 * it is. */
static struct arena *arena_by_index(unsigned i)
{
	/* The arenas a thread may be moved to: the automatic ones. */
	return i < cairn_narenas ? &cairn_arenas[i] : NULL;
}

static int do_arena(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct heap *h = own_heap();
	/* No heap, no arena of its own: each request picks one. jemalloc
	 * answers EAGAIN when it has no arena to give. */
	if (h == NULL)
		return EAGAIN;
	unsigned old = h->arena->index, want = old;
	int rc = ctl_take(io, &want, sizeof want);
	if (rc != 0)
		return rc;
	if (want != old) {
		struct arena *a = arena_by_index(want);
		if (a == NULL)
			return EFAULT;
		heap_lock(h);
		h->arena = a;
		heap_unlock(h);
	}
	return ctl_give(io, &old, sizeof old);
}

static int do_allocated(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	struct heap *h = own_heap();
	uint64_t v = 0;
	if (h != NULL) {
		tally_update(h);
		v = n->arg[0] == 'a' ? h->tally.allocated : h->tally.deallocated;
	}
	return ctl_give(io, &v, sizeof v);
}

/* A thread without a heap counts nothing: its pointer is to a zero that
 * stays so. */
static const uint64_t never_counted;

static int do_allocatedp(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	struct heap *h = own_heap();
	const uint64_t *p = &never_counted;
	if (h != NULL) {
		tally_update(h);
		p = n->arg[0] == 'a' ? &h->tally.allocated : &h->tally.deallocated;
	}
	return ctl_give(io, &p, sizeof p);
}

static int do_tcache_enabled(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct heap *h = own_heap();
	bool old = h != NULL && !h->tcache_off, want = old;
	int rc = ctl_take(io, &want, sizeof want);
	if (rc != 0)
		return rc;
	if (want != old) {
		/* Thread heaps turned off for the process (tcache:false,
		 * junk, zero): there is none to turn on. */
		if (h == NULL)
			return EFAULT;
		h->tcache_off = !want;
		/* The bins emptied stay empty while it is off: every small
		 * request then takes heap_alloc_slow to the shared heap. */
		if (!want)
			heap_flush(h);
	}
	return ctl_give(io, &old, sizeof old);
}

/* Actions: nothing is read or written. */
static int do_tcache_flush(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct heap *h = own_heap();
	if (h == NULL || h->tcache_off)
		return EFAULT;
	if (ctl_writes(io) || ctl_reads(io))
		return EPERM;
	heap_flush(h);
	return 0;
}

/* jemalloc's idle hint: the thread will not allocate for a while. Its bins
 * go back to their slabs, its cached large runs to their arenas, and the
 * pages inside its slabs on which every block is free to the kernel. */
static int do_idle(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io) || ctl_reads(io))
		return EPERM;
	struct heap *h = own_heap();
	if (h != NULL) {
		heap_flush(h);
		heap_purge_self();
	}
	return 0;
}

static int do_peak_read(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io))
		return EPERM;
	struct heap *h = own_heap();
	uint64_t v = h != NULL ? tally_peak(h) : 0;
	return ctl_give(io, &v, sizeof v);
}

static int do_peak_reset(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	if (ctl_writes(io) || ctl_reads(io))
		return EPERM;
	struct heap *h = own_heap();
	if (h != NULL)
		tally_peak_reset(h);
	return 0;
}

/* thread.prof.*: the calling thread's, kept in its heap (with it, they go
 * back for reuse when the thread exits). With opt.prof false, as jemalloc
 * then: the name is ENOENT, active reads false and writing it is ENOENT. */
static int do_prof_name(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct heap *h = own_heap();
	if (!cairn_prof.on || h == NULL)
		return ENOENT;
	/* Read or written, not both (jemalloc's READ_XOR_WRITE). */
	if (ctl_reads(io) && ctl_writes(io))
		return EPERM;
	if (ctl_writes(io)) {
		const char *name;
		int rc = ctl_take(io, &name, sizeof name);
		if (rc != 0)
			return rc;
		if (name == NULL)
			return EFAULT;
		/* Printable bytes only (a dump writes it on a line of its own),
		 * at most sizeof(h->prof_name) - 1 of them kept. */
		char copy[sizeof h->prof_name];
		size_t len = 0;
		for (; name[len] != '\0'; len++) {
			unsigned char c = (unsigned char)name[len];
			if (c < ' ' || c > '~')
				return EFAULT;
			if (len < sizeof copy - 1)
				copy[len] = (char)c;
		}
		len = len < sizeof copy - 1 ? len : sizeof copy - 1;
		copy[len] = '\0';
		memcpy(h->prof_name, copy, len + 1);
		return 0;
	}
	const char *name = h->prof_name;
	return ctl_give(io, &name, sizeof name);
}

static int do_prof_active(const struct node *n, const size_t *mib, size_t miblen, struct io *io)
{
	struct heap *h = own_heap();
	bool on = false;
	if (ctl_writes(io)) {
		if (!cairn_prof.on || h == NULL)
			return ENOENT;
		int rc = ctl_take(io, &on, sizeof on);
		if (rc != 0)
			return rc;
	}
	bool old = cairn_prof.on && h != NULL ? h->prof_active : false;
	if (ctl_writes(io))
		h->prof_active = on;
	return ctl_give(io, &old, sizeof old);
}

#define LEAF_ARG(nm, fn, a)                                                                        \
	{                                                                                          \
		.name = nm, .leaf = fn, .arg = a                                                   \
	}

static const struct node tcache_kids[] = {
    LEAF("enabled", do_tcache_enabled),
    LEAF("flush", do_tcache_flush),
};
static const struct node peak_kids[] = {
    LEAF("read", do_peak_read),
    LEAF("reset", do_peak_reset),
};
static const struct node prof_kids[] = {
    LEAF("name", do_prof_name),
    LEAF("active", do_prof_active),
};
static const struct node thread_kids[] = {
    LEAF("arena", do_arena),
    LEAF_ARG("allocated", do_allocated, "a"),
    LEAF_ARG("allocatedp", do_allocatedp, "a"),
    LEAF_ARG("deallocated", do_allocated, "d"),
    LEAF_ARG("deallocatedp", do_allocatedp, "d"),
    INNER("tcache", tcache_kids),
    LEAF("idle", do_idle),
    INNER("peak", peak_kids),
    INNER("prof", prof_kids),
};

const struct node ctl_thread_tree = INNER("thread", thread_kids);
