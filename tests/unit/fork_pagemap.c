/* SPDX-License-Identifier: MIT */
/* fork from a signal handler that interrupted a page map writer. The main
 * thread sets the words of a range of address space it reserved, again and
 * again, to a new value each time; a CPU-time timer interrupts it, and the
 * handler forks. When the writers' lock was held (the window in use was
 * replaced in the child), the child must not wait for it: in the handler
 * it allocates and frees blocks of every kind and grows the window, under
 * the fresh lock, and then returns into the interrupted write, which must
 * land in the window then in use. The child checks every word of the range
 * after that write and _exits with 10 if the lock was held, 0 if not. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "core/chunk.h"

#define SLOTS     16
#define MAX_FORKS 300
#define MIN_HELD  3
#define MAX_SECS  8.0

static uintptr_t base;
static volatile sig_atomic_t in_child, child_held, child_fault;
static atomic_int forks;

static void on_timer(int sig)
{
	(void)sig;
	int saved = errno;
	if (atomic_load(&forks) >= MAX_FORKS)
		return;
	_Atomic(uintptr_t) *before = atomic_load(&cairn_pagemap);
	pid_t pid = fork();
	if (pid == 0) {
		in_child = 1;
		child_held = atomic_load(&cairn_pagemap) != before;
		void *p[3] = {malloc(100), malloc(200000), malloc(5 * CHUNK_SIZE)};
		for (int i = 0; i < 3; i++) {
			if (p[i] == NULL)
				child_fault = 2;
			else
				memset(p[i], 1, 100);
		}
		for (int i = 0; i < 3; i++)
			free(p[i]);
		/* Past the window's end: it grows, into a new copy. */
		const struct pagemap_window *w = pagemap_window_of(atomic_load(&cairn_pagemap));
		if (!pagemap_reserve((w->lo + w->n) << CHUNK_SHIFT, CHUNK_SIZE))
			child_fault = 3;
		if (pagemap_window_of(atomic_load(&cairn_pagemap)) == w)
			child_fault = 4;
	} else if (pid > 0) {
		atomic_fetch_add(&forks, 1);
	}
	errno = saved;
}

static void child_check(uintptr_t v)
{
	if (child_fault)
		_exit(child_fault);
	for (unsigned i = 0; i < SLOTS; i++)
		if (pagemap_get(base + (uintptr_t)i * CHUNK_SIZE) != v)
			_exit(1);
	void *p = malloc(300000);
	if (p == NULL)
		_exit(2);
	free(p);
	_exit(child_held ? 10 : 0);
}

static int held, clean, bad;

static void reap(int options)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, options)) > 0) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
		if (code == 10)
			held++;
		else if (code == 0)
			clean++;
		else if (bad++ < 5)
			fprintf(stderr, "child %d: status %d\n", (int)pid, code);
	}
}

int main(void)
{
	free(malloc(16));
	/* Address space of our own, so that nothing of cairn's lies there. */
	size_t len = (SLOTS + 1) * CHUNK_SIZE;
	void *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	REQUIRE(m != MAP_FAILED, "mmap");
	base = ((uintptr_t)m + CHUNK_SIZE - 1) & ~(uintptr_t)(CHUNK_SIZE - 1);
	REQUIRE(pagemap_reserve(base, SLOTS * CHUNK_SIZE), "pagemap_reserve");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_timer;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	REQUIRE(sigaction(SIGVTALRM, &sa, NULL) == 0, "sigaction");
	struct itimerval it = {{0, 500}, {0, 500}};
	REQUIRE(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0, "setitimer");

	double end = now_s() + MAX_SECS;
	uintptr_t v = 0;
	for (unsigned long i = 1;; i++) {
		v = (uintptr_t)i << 4; /* no tag: no block of cairn's */
		pagemap_set_range(base, SLOTS * CHUNK_SIZE, v);
		if (in_child)
			child_check(v);
		if ((i & 1023) == 0) {
			reap(WNOHANG);
			if (atomic_load(&forks) >= MAX_FORKS || (held >= MIN_HELD && clean > 0) ||
			    now_s() > end)
				break;
		}
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_VIRTUAL, &off, NULL);
	/* A fork after the last check in the loop: the child comes here. */
	if (in_child)
		child_check(v);
	reap(0);
	fprintf(stderr, "%d forks: %d with the writers' lock held, %d without, %d failed\n",
	        atomic_load(&forks), held, clean, bad);
	CHECK(bad == 0, "%d children failed", bad);
	CHECK(held >= 1, "no fork landed while the writers' lock was held");
	CHECK(held + clean + bad == atomic_load(&forks), "every child reaped");
	for (unsigned i = 0; i < SLOTS; i++)
		CHECK(pagemap_get(base + (uintptr_t)i * CHUNK_SIZE) == v, "slot %u", i);
	pagemap_set_range(base, SLOTS * CHUNK_SIZE, 0);
	munmap(m, len);
	return CHECK_DONE();
}
