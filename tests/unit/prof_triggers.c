/* SPDX-License-Identifier: MIT */
/* The heap profiler's dump triggers, counted (prof_dumps_due): every
 * 2^lg_prof_interval bytes allocated ('i'), a new peak of the sampled live
 * bytes at most once a second ('u'); the final one ('f') comes from the
 * library's destructor and is not seen here. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "prof/profiler.h"

const char *malloc_conf = "prof:true,lg_prof_sample:12,lg_prof_interval:22";

int main(void)
{
	free(malloc(1));
	TEST_CASE("interval")
	{
		uint64_t before = prof_dumps_due('i');
		/* 64 MiB through the thread heap, 16 times 2^22 bytes. */
		for (int i = 0; i < (64 << 20) / 512; i++)
			free(malloc(512));
		uint64_t n = prof_dumps_due('i') - before;
		CHECK(n >= 12 && n <= 17, "interval dumps for 64 MiB at 4 MiB: %llu",
		      (unsigned long long)n);
	}
	TEST_CASE("peak")
	{
		static void *held[4096];
		struct timespec pause = {1, 100000000};
		nanosleep(&pause, NULL); /* past the last peak dump's second */
		uint64_t before = prof_dumps_due('u');
		for (int i = 0; i < 2048; i++)
			held[i] = malloc(1024);
		uint64_t first = prof_dumps_due('u') - before;
		CHECK(first == 1, "one peak dump at first, the rest within the second: %llu",
		      (unsigned long long)first);
		nanosleep(&pause, NULL);
		for (int i = 2048; i < 4096; i++)
			held[i] = malloc(1024);
		CHECK(prof_dumps_due('u') - before == 2, "a second peak a second later: %llu",
		      (unsigned long long)(prof_dumps_due('u') - before));
		for (int i = 0; i < 4096; i++)
			free(held[i]);
		for (int i = 0; i < 4096; i++)
			held[i] = malloc(1024);
		CHECK(prof_dumps_due('u') - before == 2, "not a new peak: no dump");
		for (int i = 0; i < 4096; i++)
			free(held[i]);
	}
	return CHECK_DONE();
}
