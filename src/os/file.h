/* SPDX-License-Identifier: MIT */
/* Files the profiler writes and reads: created new and private, written in
 * full, read back in pieces. Nothing here allocates; each function returns
 * an errno value (or a negated one in place of a descriptor) and leaves
 * errno itself as it found it, as the rest of the os contract does. */
#ifndef CAIRN_OS_FILE_H
#define CAIRN_OS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates path for writing, mode 0600, only if nothing is there: an
 * existing file is never opened or truncated (-EEXIST) and a symbolic link
 * in the last component is never followed (-EEXIST or -ELOOP). The
 * descriptor is closed on exec. Returns it, or minus an errno value. */
int os_file_create(const char *path);
/* Opens path for reading (closed on exec): a descriptor or minus an errno. */
int os_file_open_read(const char *path);
/* Writes all len bytes, retrying short writes and interrupted calls:
 * 0 or an errno value. */
int os_file_write_all(int fd, const void *buf, size_t len);
/* Reads up to cap bytes, retrying interrupted calls: the count (0 at the
 * end) or minus an errno value. */
ssize_t os_file_read(int fd, void *buf, size_t cap);
/* Closes fd: 0 or the errno value close(2) gave (a late write error). */
int os_file_close(int fd);
/* Whether the kernel started this process in secure mode (AT_SECURE:
 * set-user-ID, set-group-ID or raised capabilities). */
bool os_secure_process(void);

#endif
