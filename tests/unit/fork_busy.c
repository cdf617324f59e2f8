/* A child forked while another thread is inside a slow path leaves that
 * thread's heap alone: its slab lists may be half rearranged at the instant
 * of the fork. A worker thread allocates and then blocks; the test marks
 * its heap as inside a slow path (what the worker's own slow paths do for
 * their duration) and forks: in the child the worker's heap is still live,
 * not flushed and parked, and the child allocates and frees normally.
 * Unmarked, a second fork's child parks it for reuse, as before. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/heap.h"

static struct heap *worker_heap;
static int release_fd[2];

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

/* In the child: exit status 0 if the worker's heap is in state `want` and
 * the allocator works. */
static int child(uint8_t want)
{
	if (atomic_load(&worker_heap->state) != want)
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

static int fork_and_check(uint8_t want)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(want));
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

int main(void)
{
	free(malloc(16)); /* the main thread gets its heap */
	REQUIRE(pipe(release_fd) == 0, "pipe");
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
	while (__atomic_load_n(&worker_heap, __ATOMIC_ACQUIRE) == NULL)
		usleep(1000);
	REQUIRE(worker_heap->kind == HEAP_THREAD, "the worker has a heap of its own");

	worker_heap->in_slow_path = 1;
	int r = fork_and_check(HEAP_LIVE);
	CHECK(r == 0,
	      "forked with the worker inside a slow path: child status %d (1: its heap "
	      "was not left live)",
	      r);
	worker_heap->in_slow_path = 0;
	r = fork_and_check(HEAP_ABANDONED);
	CHECK(r == 0,
	      "forked with the worker blocked outside: child status %d (1: its heap was "
	      "not parked)",
	      r);

	REQUIRE(write(release_fd[1], "x", 1) == 1, "write");
	pthread_join(t, NULL);
	CHECK(atomic_load(&worker_heap->state) == HEAP_ABANDONED,
	      "the exited worker's heap parked");
	return CHECK_DONE();
}
