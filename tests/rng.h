/* SPDX-License-Identifier: MIT */
/* The tests' one pseudo-random generator: splitmix64, whose state is one 64-bit word that any
 * value seeds (0 included), so a test's fixed seed gives it the same sequence on every run and
 * the seeds of its threads may simply be SEED + i. No allocation, no global state: each user
 * keeps its own word.
 *
 *   uint64_t rng = SEED;
 *   size_t n = 16 + rng_next(&rng) % 1000;
 *
 * The state advances by a fixed odd constant, so two states that differ by a multiple of it
 * give the same sequence shifted: derive seeds by adding small numbers, not multiples of
 * 0x9e3779b97f4a7c15. */
#ifndef CAIRN_TESTS_RNG_H
#define CAIRN_TESTS_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
