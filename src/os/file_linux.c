/* SPDX-License-Identifier: MIT */
#include "os/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int os_file_create(const char *path)
{
	int saved = errno;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int ret = fd >= 0 ? fd : -errno;
	errno = saved;
	return ret;
}

int os_file_open_read(const char *path)
{
	int saved = errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = fd >= 0 ? fd : -errno;
	errno = saved;
	return ret;
}

int os_file_write_all(int fd, const void *buf, size_t len)
{
	int saved = errno, ret = 0;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno;
			break;
		}
		/* A regular file only writes nothing when it cannot grow. */
		if (n == 0) {
			ret = ENOSPC;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	errno = saved;
	return ret;
}

ssize_t os_file_read(int fd, void *buf, size_t cap)
{
	int saved = errno;
	ssize_t n;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	errno = saved;
	return n;
}

ssize_t os_file_read_at(int fd, void *buf, size_t cap, uint64_t off)
{
	int saved = errno;
	ssize_t n;
	do
		n = pread(fd, buf, cap, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	errno = saved;
	return n;
}

bool os_file_id(int fd, uint64_t id[2])
{
	int saved = errno;
	struct stat st;
	bool ok = fstat(fd, &st) == 0;
	errno = saved;
	if (ok) {
		id[0] = (uint64_t)st.st_dev;
		id[1] = (uint64_t)st.st_ino;
	}
	return ok;
}

int os_file_close(int fd)
{
	int saved = errno;
	/* Linux releases the descriptor even when close fails (EINTR
	 * included), so it is never retried. */
	int ret = close(fd) == 0 ? 0 : errno;
	errno = saved;
	return ret;
}

bool os_secure_process(void)
{
	return getauxval(AT_SECURE) != 0;
}

uintptr_t os_loader_base(void)
{
	return (uintptr_t)getauxval(AT_BASE);
}

const void *os_file_map(const char *path, size_t *size)
{
	*size = 0;
	int fd = os_file_open_read(path);
	if (fd < 0)
		return NULL;
	int saved = errno;
	const void *map = NULL;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			map = m;
			*size = (size_t)st.st_size;
		}
	}
	errno = saved;
	os_file_close(fd);
	return map;
}

void os_file_unmap(const void *map, size_t size)
{
	int saved = errno;
	munmap((void *)map, size);
	errno = saved;
}

bool os_program_path(char *buf, size_t cap)
{
	int saved = errno;
	ssize_t n = readlink(os_program_file(), buf, cap);
	errno = saved;
	if (n <= 0 || (size_t)n >= cap)
		return false;
	buf[n] = '\0';
	return true;
}

const char *os_program_file(void)
{
	return "/proc/self/exe";
}

int os_open_mappings(void)
{
	return os_file_open_read("/proc/self/maps");
}
