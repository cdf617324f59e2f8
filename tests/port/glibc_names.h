/* SPDX-License-Identifier: MIT */
/* glibc's allocation calls that cairn exports on every C library, declared
 * for the tests built with one whose headers lack them (musl): included
 * into each port test (port.mk), so that a test's pvalloc or malloc_trim
 * is cairn's, called with its real type. */
#ifndef CAIRN_TESTS_GLIBC_NAMES_H
#define CAIRN_TESTS_GLIBC_NAMES_H

#include <stddef.h>

void *pvalloc(size_t size);
int malloc_trim(size_t pad);

#endif
