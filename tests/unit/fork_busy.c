/* SPDX-License-Identifier: MIT */
/* fork waits for every thread's slow path in flight, so the child finds the
 * other threads' slab lists whole. A worker thread allocates, frees half
 * and blocks; the test holds the worker's heap lock (as the worker's own
 * slow paths do for their duration) while a third thread forks: the fork
 * must not go through before the lock is released (it is still pending
 * 200 ms later), then it does, and the child parks the worker's heap for
 * reuse and allocates and frees normally. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "core/heap.h"

static struct heap *worker_heap;
static int release_fd[2];
static int forked; /* set by the forking thread once fork returned */
static int child_status = -1;

static void *worker(void *arg)
{
	(void)arg;
	void *keep[64];
	for (int i = 0; i < 64; i++)
		keep[i] = malloc(48);
	for (int i = 0; i < 64; i += 2)
		free(keep[i]);
	__atomic_store_n(&worker_heap, heap_self(), __ATOMIC_RELEASE);
	char c;
	while (read(release_fd[0], &c, 1) < 0)
		;
	for (int i = 1; i < 64; i += 2)
		free(keep[i]);
	return NULL;
}

/* In the child: 0 if the worker's heap was parked and the allocator works. */
static int child(void)
{
	if (atomic_load(&worker_heap->state) != HEAP_ABANDONED)
		return 1;
	for (int round = 0; round < 100; round++) {
		void *p[32];
		for (int i = 0; i < 32; i++)
			if ((p[i] = malloc(48 + (size_t)i * 100)) == NULL)
				return 2;
		for (int i = 0; i < 32; i++)
			free(p[i]);
	}
	return 0;
}

static void *forker(void *arg)
{
	(void)arg;
	pid_t pid = fork();
	if (pid == 0)
		_exit(child());
	__atomic_store_n(&forked, 1, __ATOMIC_RELEASE);
	int st = child_wait(pid, 0);
	child_status = st < 0 ? -2 : WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
	return NULL;
}

int main(void)
{
	free(malloc(16)); /* the main thread gets its heap */
	REQUIRE(pipe(release_fd) == 0, "pipe");
	pthread_t w, f;
	REQUIRE(pthread_create(&w, NULL, worker, NULL) == 0, "pthread_create");
	while (__atomic_load_n(&worker_heap, __ATOMIC_ACQUIRE) == NULL)
		usleep(1000);
	REQUIRE(worker_heap->kind == HEAP_THREAD, "the worker has a heap of its own");

	heap_lock(worker_heap);
	REQUIRE(pthread_create(&f, NULL, forker, NULL) == 0, "pthread_create");
	usleep(200 * 1000);
	CHECK(__atomic_load_n(&forked, __ATOMIC_ACQUIRE) == 0,
	      "fork went through while the worker's heap was locked");
	heap_unlock(worker_heap);
	pthread_join(f, NULL);
	CHECK(forked == 1, "fork returned once the lock was released");
	CHECK(child_status == 0, "child status %d (1: the worker's heap was not parked)",
	      child_status);

	REQUIRE(write(release_fd[1], "x", 1) == 1, "write");
	pthread_join(w, NULL);
	CHECK(atomic_load(&worker_heap->state) == HEAP_ABANDONED,
	      "the exited worker's heap parked");
	return CHECK_DONE();
}
