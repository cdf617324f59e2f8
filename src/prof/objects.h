/* SPDX-License-Identifier: MIT */
/* The loaded objects as dl_iterate_phdr describes them: which of an
 * object's loadable segments holds an address. */
#ifndef CAIRN_PROF_OBJECTS_H
#define CAIRN_PROF_OBJECTS_H

#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The loadable segment of info that holds address a, or NULL; with exec,
 * executable segments only. */
static inline const ElfW(Phdr) *
    object_segment_of(const struct dl_phdr_info *info, uintptr_t a, bool exec)
{
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (!exec || (ph->p_flags & PF_X)) && a >= lo &&
		    a - lo < ph->p_memsz)
			return ph;
	}
	return NULL;
}

#endif
