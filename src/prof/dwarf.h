/* SPDX-License-Identifier: MIT */
/* Reading DWARF's call frame information (.eh_frame, .eh_frame_hdr):
 * LEB128 numbers, fixed-size little-endian fields and the sizes of the
 * DW_EH_PE pointer encodings, each read bounded by its record's end. */
#ifndef CAIRN_PROF_DWARF_H
#define CAIRN_PROF_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static inline uint64_t uleb(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static inline int64_t sleb(struct reader *r)
{
	int64_t v = 0;
	unsigned shift = 0;
	for (; r->p < r->end && shift < 64; shift += 7) {
		uint8_t b = *r->p++;
		v |= (int64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (shift + 7 < 64 && (b & 0x40))
				v |= -((int64_t)1 << (shift + 7));
			return v;
		}
	}
	r->bad = true;
	return 0;
}

static inline uint64_t fixed(struct reader *r, unsigned n)
{
	if (r->end - r->p < (ptrdiff_t)n) {
		r->bad = true;
		return 0;
	}
	uint64_t v = 0;
	memcpy(&v, r->p, n); /* little-endian */
	r->p += n;
	return v;
}

/* The size of a pointer in DW_EH_PE encoding enc (its low four bits); 0
 * for one this code does not read. */
static inline unsigned enc_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		return 8;
	case 0x02: /* udata2 */
	case 0x0a: /* sdata2 */
		return 2;
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		return 4;
	}
	return 0;
}

#endif
