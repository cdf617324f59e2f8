/* SPDX-License-Identifier: MIT */
/* The FDE covering a code address, read from its object's file (pread)
 * rather than through the object's mapping; see fde.c for why. */
#ifndef CAIRN_PROF_FDE_H
#define CAIRN_PROF_FDE_H

#include <stdbool.h>
#include <stdint.h>

/* Longer FDEs and CIEs are read through the mapping instead: a function's
 * FDE is most often under 100 bytes, a CIE under 40. */
#define FDE_BYTES 512
#define CIE_BYTES 128

struct fde_copy {
	uint8_t fde[FDE_BYTES]; /* the FDE, from its length word */
	uint8_t cie[CIE_BYTES]; /* its CIE, from its length word */
	uintptr_t func;         /* where the code it covers starts, at run time */
};

/* Copies into *out the FDE of the object loaded at pc whose entry in the
 * object's .eh_frame_hdr table is the last at or before pc, and its CIE:
 * the FDE that covers pc if any does (the caller checks its range). False
 * when the file cannot tell: pc in no object, no file (the vDSO), a file
 * that is not the one mapped, no table or one in another format, an FDE
 * or CIE too long. No allocation; the loader's lock is held meanwhile, as
 * dl_iterate_phdr holds it. */
bool fde_from_file(uintptr_t pc, struct fde_copy *out);

/* fork: in the child, the objects' tables forgotten if the parent forked
 * while one was being filled. */
void fde_postfork_child(void);

/* FDEs read from files and through mappings (cfa.c counts the latter),
 * for tests. */
struct fde_reads {
	unsigned long file, mapping;
};
struct fde_reads fde_reads(void);
void fde_count_mapping_read(void);

#endif
