/* SPDX-License-Identifier: MIT */
/* A slab names the thread that may free into it without a lock by the
 * thread's pointer (heap_owner_id), which a thread created later may be
 * given again: the slabs of an exited thread's heap name no thread, a
 * thread that takes the parked heap names itself in them and frees into
 * them on the fast path, and in a fork child the slabs of the parent's
 * other threads name none, so that the threads the child creates, which
 * glibc gives the stacks and thread pointers of those threads, cannot take
 * them for their own. The children start no thread, not even a purging
 * one: neither ThreadSanitizer nor qemu-user (the AArch64 runs) can start
 * one after a fork of a process with threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "core/chunk.h"
#include "core/heap.h"

/* No purging thread: a fork child would start one again, which
 * ThreadSanitizer cannot follow either. */
const char *malloc_conf = "background_thread:false";

/* 48-byte blocks: several slabs, every one of them with blocks in use. */
#define NB 600

static void *blocks[NB];
static struct heap *worker_heap;
static uintptr_t worker_id;
static int hold_fd[2];
static int ready_fd[2];

static struct span *span_of(void *p)
{
	return pagemap_span((uintptr_t)p);
}

/* Blocks whose slab does not name id. */
static int not_named(uintptr_t id)
{
	int n = 0;
	for (int i = 0; i < NB; i++)
		n += span_of(blocks[i])->fast_owner != id;
	return n;
}

static void fill(void)
{
	for (int i = 0; i < NB; i++)
		blocks[i] = malloc(48);
	worker_heap = heap_self();
	worker_id = heap_owner_id();
}

static void *exiting(void *arg)
{
	(void)arg;
	fill();
	return NULL;
}

struct taken {
	int took;      /* the parked heap */
	int named;     /* blocks whose slab does not name this thread */
	int slow_path; /* slow paths taken by half of the frees */
	int same_id;   /* the exited thread's id, given again */
};

static void *taker(void *arg)
{
	struct taken *t = arg;
	void *p = malloc(48);
	struct heap *h = heap_self();
	t->took = h == worker_heap;
	t->same_id = heap_owner_id() == worker_id;
	t->named = not_named(heap_owner_id());
	/* Every other block: each slab keeps blocks in use, so none empties
	 * and a free that takes the fast path takes no slow path at all. */
	uint32_t before = atomic_load(&h->slow_count);
	for (int i = 0; i < NB; i += 2)
		free(blocks[i]);
	t->slow_path = (int)(atomic_load(&h->slow_count) - before);
	for (int i = 1; i < NB; i += 2)
		free(blocks[i]);
	free(p);
	return NULL;
}

static void *held(void *arg)
{
	(void)arg;
	fill();
	char c = 1;
	if (write(ready_fd[1], &c, 1) != 1)
		abort();
	while (read(hold_fd[0], &c, 1) < 0)
		;
	return NULL;
}

/* The fork child: 0 when the other thread's heap was parked with its
 * slabs naming no thread. */
static int child(void)
{
	if (atomic_load(&worker_heap->state) != HEAP_ABANDONED)
		return 1;
	if (worker_heap->owner_id != 0)
		return 2;
	if (not_named(0) != 0)
		return 3;
	/* The forking thread frees them, as the parked heap's remote frees. */
	for (int i = 0; i < NB; i++)
		free(blocks[i]);
	void *p[NB];
	for (int i = 0; i < NB; i++)
		if ((p[i] = malloc(48)) == NULL)
			return 4;
	for (int i = 0; i < NB; i++)
		free(p[i]);
	return 0;
}

/* A thread that forks while it holds its heap's lock, as a signal handler
 * that interrupts one of its slow paths does: the child leaks the heap,
 * lists and all, and finds its slabs by their chunks to make them name no
 * thread, the forking one included, which gets a new heap. Its free of a
 * block of the leaked heap is then not pushed onto the slab's list. */
static int leaked_child(void)
{
	if (atomic_load(&worker_heap->state) != HEAP_LEAKED)
		return 1;
	if (heap_self() == worker_heap)
		return 2;
	if (not_named(0) != 0)
		return 3;
	void *b = blocks[1];
	free(b);
	if (span_of(b)->local_free == b)
		return 4;
	void *p = malloc(48);
	if (p == NULL || span_of(p)->fast_owner != heap_owner_id())
		return 5;
	free(p);
	return 0;
}

static void *leaking(void *arg)
{
	int *status = arg;
	fill();
	heap_lock(worker_heap);
	pid_t pid = fork();
	if (pid == 0)
		_exit(leaked_child());
	heap_unlock(worker_heap);
	*status = pid > 0 ? child_wait(pid, 30) : -3;
	for (int i = 0; i < NB; i++)
		free(blocks[i]);
	return NULL;
}

int main(void)
{
	TEST_CASE("exit")
	{
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, exiting, NULL) == 0 && pthread_join(t, NULL) == 0,
		        "thread");
		CHECK(worker_heap->owner_id == 0 &&
		          atomic_load(&worker_heap->state) == HEAP_ABANDONED,
		      "the exited thread's heap is parked and names no thread");
		CHECK(not_named(0) == 0, "%d blocks' slabs still name the exited thread",
		      not_named(0));
		struct taken tk = {0};
		REQUIRE(pthread_create(&t, NULL, taker, &tk) == 0 && pthread_join(t, NULL) == 0,
		        "thread");
		CHECK(tk.took, "the next thread takes the parked heap");
		CHECK(tk.named == 0, "%d blocks' slabs do not name the thread that took the heap",
		      tk.named);
		CHECK(tk.slow_path == 0, "its frees into them took %d slow paths", tk.slow_path);
	}

	TEST_CASE("fork")
	{
		REQUIRE(pipe(hold_fd) == 0 && pipe(ready_fd) == 0, "pipes");
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, held, NULL) == 0, "thread");
		char c;
		REQUIRE(read(ready_fd[0], &c, 1) == 1, "the thread filled its slabs");
		CHECK(not_named(worker_id) == 0, "the thread's slabs name it");
		pid_t pid = fork();
		if (pid == 0)
			_exit(child());
		REQUIRE(pid > 0, "fork");
		int st = child_wait(pid, 30);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child: the other thread's heap parked, its slabs naming no thread, "
		      "its blocks freed (status %d)",
		      st);
		CHECK(not_named(worker_id) == 0, "in the parent the thread's slabs still name it");
		c = 1;
		REQUIRE(write(hold_fd[1], &c, 1) == 1 && pthread_join(t, NULL) == 0, "release");
		for (int i = 0; i < NB; i++)
			free(blocks[i]);
	}
	TEST_CASE("leaked")
	{
		int st = -4;
		pthread_t t;
		REQUIRE(pthread_create(&t, NULL, leaking, &st) == 0 && pthread_join(t, NULL) == 0,
		        "thread");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child: the forking thread's heap leaked, its slabs naming no thread, a "
		      "free of its block not pushed onto the slab (status %d)",
		      st);
	}
	return CHECK_DONE();
}
