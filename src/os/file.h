/* SPDX-License-Identifier: MIT */
/* Files the profiler writes and reads: created new and private, written in
 * full, read back in pieces. Nothing here allocates; each function returns
 * an errno value (or a negated one in place of a descriptor) and leaves
 * errno itself as it found it, as the rest of the os contract does. */
#ifndef CAIRN_OS_FILE_H
#define CAIRN_OS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
/* The same at file offset off, the descriptor's own offset left as it was
 * (pread). */
ssize_t os_file_read_at(int fd, void *buf, size_t cap, uint64_t off);
/* The file fd is open on, as two numbers that no other file has at the
 * same time (device and inode): false when the system cannot say. */
bool os_file_id(int fd, uint64_t id[2]);
/* Closes fd: 0 or the errno value close(2) gave (a late write error). */
int os_file_close(int fd);
/* Maps the whole of the regular file at path read-only, private: its
 * start, with its size in *size; NULL (and *size 0) when it cannot be
 * opened, is not a regular file, is empty or cannot be mapped. */
const void *os_file_map(const char *path, size_t *size);
/* Unmaps what os_file_map returned. */
void os_file_unmap(const void *map, size_t size);
/* The running program's file, an absolute path, into buf (cap bytes,
 * NUL-terminated): false when the system cannot say or it does not fit. */
bool os_program_path(char *buf, size_t cap);
/* A path naming the program's own file that os_file_map can open, where
 * os_program_path failed or a path to it may have changed since. */
const char *os_program_file(void);
/* Opens, for reading, the list of the process's memory mappings in the
 * format of Linux's /proc/PID/maps (what a heap profile's MAPPED_LIBRARIES
 * section holds): a descriptor or minus an errno value (-ENOSYS where the
 * system has no such list). */
int os_open_mappings(void);
/* Whether the kernel started this process in secure mode (AT_SECURE:
 * set-user-ID, set-group-ID or raised capabilities). */
bool os_secure_process(void);
/* The address the dynamic loader is loaded at (its object's base, as
 * dl_iterate_phdr gives it), or 0 for a program without one (static). */
uintptr_t os_loader_base(void);

#endif
