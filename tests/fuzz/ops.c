/* SPDX-License-Identifier: MIT */
/* libFuzzer target: an input is a sequence of operations on cairn, read by the model of
 * tests/fuzz/model.h (each choice takes the input's next bytes) and checked by it. cairn is
 * linked in statically, built with coverage instrumentation, so that the fuzzer is guided by
 * the allocator's own branches; it is also the allocator of the fuzzer itself. One thread;
 * requests up to 8 MiB, alignments up to 1 GiB; every block is freed at the end of an input.
 * A failed check prints what failed and aborts, which libFuzzer reports as a crash. */
#include "fuzz/model.h"

#define CAP 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mshared *sh;
	static struct mthread t;
	if (sh == NULL) {
		sh = m_shared_new(1, CAP);
		sh->max_size = 8 * M_MiB;
		sh->live_max = 64 * M_MiB;
		m_thread_init(&t, sh, 0, CAP, 1);
	}
	t.data = data;
	t.len = size;
	t.pos = 0;
	t.exhausted = false;
	t.ops = 0;
	t.rng = 1;
	while (m_step(&t))
		;
	m_free_all(&t, true);
	if (sh->nivl != 0 || atomic_load(&sh->live_bytes) != 0) {
		fprintf(stderr, "model: %zu blocks, %zu bytes left after an input\n", sh->nivl,
		        atomic_load(&sh->live_bytes));
		abort();
	}
	return 0;
}
