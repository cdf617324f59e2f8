/* SPDX-License-Identifier: MIT */
/* Free-list integrity: a write into freed memory (a use after free) or an
 * overflow into a free neighbour must never make cairn hand out an address
 * the writer chose, a block outside its slab, or one block twice. Each
 * attack runs in a child that then allocates the same size many times; the
 * child must die of SIGABRT after one "cairn: " line that names the
 * corruption, and never get the planted address or a block twice (it
 * exits with status 3 if it does). The one exception, zero_link: a link
 * written over alone with NULL (every list ends in LIST_END, core/block.h)
 * ends in SIGSEGV at the malloc that follows it, as any value that is no
 * mapped address does; a slow path that walks the list first reports it
 * (zero_link_idle). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>

#include "cairn/jemalloc.h"
#include "death.h"

#define ROUNDS 3000

/* What an attacker would like malloc to return. */
static char target[4096] __attribute__((aligned(64)));

struct attack {
	size_t size;
	unsigned word; /* which word of the freed block is written */
	int kind;      /* what is written */
	const char *name;
};

enum { PLANT, GARBAGE, ZERO_DOUBLE, OVERFLOW8, OVERFLOW16, ZERO_LINK, ZERO_LINK_IDLE };

/* Allocates many blocks, checks none is the target or handed out twice
 * while still held. */
static void allocate_and_watch(size_t size, void *freed)
{
	static void *got[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		got[i] = malloc(size);
		if (got[i] == NULL)
			_exit(4);
		if ((char *)got[i] >= target && (char *)got[i] < target + sizeof target) {
			fprintf(stderr, "handed out the planted address %p\n", got[i]);
			_exit(3);
		}
		for (int j = 0; j < i; j++) {
			if (got[j] == got[i]) {
				fprintf(stderr, "handed out %p twice\n", got[i]);
				_exit(3);
			}
		}
		if (freed != NULL && got[i] == freed)
			freed = NULL; /* once is right; twice is caught above */
	}
}

static void run_attack(void *arg)
{
	const struct attack *a = arg;
	void *blocks[64];
	for (int i = 0; i < 64; i++)
		blocks[i] = malloc(a->size);
	void **v = launder(blocks[20]);
	switch (a->kind) {
	case PLANT:
		free(v);
		v[a->word] = target + 64;
		break;
	case GARBAGE:
		free(v);
		v[a->word] = (void *)(uintptr_t)0x4141414141414141ull;
		break;
	case ZERO_LINK:
		free(v);
		v[1] = NULL;
		break;
	case ZERO_LINK_IDLE:
		/* The idle hint walks the slab's list to purge its pages: a
		 * walk reports the NULL link that malloc would follow. */
		free(v);
		v[1] = NULL;
		mallctl("thread.idle", NULL, NULL, NULL, 0);
		break;
	case ZERO_DOUBLE:
		free(v);
		v[a->word] = NULL;
		free(v); /* a double free that zeroing hid, or one caught here */
		break;
	case OVERFLOW8:
	case OVERFLOW16: {
		/* blocks[21] lies right after blocks[20] in the slab. */
		char *prev = launder(blocks[20]);
		free(blocks[21]);
		memset(prev + a->size, 0x41, a->kind == OVERFLOW8 ? 8 : 16);
		break;
	}
	}
	allocate_and_watch(a->size, v);
}

int main(void)
{
	static const size_t sizes[] = {16, 64, 1024};
	static const struct {
		int kind;
		unsigned word;
		const char *name, *case_name;
	} kinds[] = {
	    {PLANT, 0, "planted address in word 0", "plant_word0"},
	    {PLANT, 1, "planted address in word 1", "plant_word1"},
	    {GARBAGE, 0, "garbage in word 0", "garbage_word0"},
	    {ZERO_DOUBLE, 0, "word 0 zeroed, then a double free", "zero_word0_double_free"},
	    {ZERO_DOUBLE, 1, "word 1 zeroed, then a double free", "zero_word1_double_free"},
	    {OVERFLOW8, 0, "8-byte overflow into a free neighbour", "overflow8"},
	    {OVERFLOW16, 0, "16-byte overflow into a free neighbour", "overflow16"},
	    {ZERO_LINK, 1, "link zeroed", "zero_link"},
	    {ZERO_LINK_IDLE, 1, "link zeroed, then thread.idle", "zero_link_idle"},
	};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		TEST_CASE(kinds[k].case_name)
		{
			for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
				struct attack a = {sizes[s], kinds[k].word, kinds[k].kind,
				                   kinds[k].name};
				char out[4096];
				int status = death_run(run_attack, &a, out, sizeof out);
				if (kinds[k].kind == ZERO_LINK) {
					/* A link is not checked before it is
					 * followed: NULL, as any value that is no
					 * mapped address, ends in SIGSEGV at the
					 * malloc that reaches it, with nothing
					 * handed out twice (status 3). The UBSan
					 * build reports the load first. */
					bool segv =
					    WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
					bool ubsan =
					    WIFEXITED(status) && WEXITSTATUS(status) != 3 &&
					    strstr(out, "runtime error: load of null pointer");
					CHECK(segv || ubsan,
					      "%zu bytes, link zeroed: child %s %d, want SIGSEGV; "
					      "it said: %s",
					      a.size,
					      WIFSIGNALED(status) ? "killed by signal"
					                          : "exited with",
					      WIFSIGNALED(status) ? WTERMSIG(status)
					                          : WEXITSTATUS(status),
					      out);
					continue;
				}
				CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
				      "%zu bytes, %s: child %s %d, want SIGABRT; it said: %s",
				      a.size, a.name,
				      WIFSIGNALED(status) ? "killed by signal" : "exited with",
				      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				      out);
				char *nl = strchr(out, '\n');
				CHECK(nl != NULL && nl[1] == '\0' &&
				          strncmp(out, "cairn: ", 7) == 0,
				      "%zu bytes, %s: want one cairn line, got: %s", a.size, a.name,
				      out);
				CHECK(strstr(out, "corrupted free list") != NULL ||
				          (kinds[k].kind == ZERO_DOUBLE &&
				           strstr(out, "double free") != NULL),
				      "%zu bytes, %s: the line does not name the corruption: %s",
				      a.size, a.name, out);
			}
		}
	return CHECK_DONE();
}
