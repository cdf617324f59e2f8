/* SPDX-License-Identifier: MIT */
/* Linux (glibc and musl) implementation of the kernel contract in os.h. */
#define _GNU_SOURCE
#include "os/linux.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The futex operations are the kernel's ABI; the kernel's headers that
 * name them are not on every C library's path (musl-gcc searches only
 * musl's own). */
#if __has_include(<linux/futex.h>)
#include <linux/futex.h>
#else
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#endif

static size_t page_size = 4096;

#ifdef CAIRN_PAGE_SIZE_HOOK
static size_t kernel_page = 4096;

/* Test builds only (port.mk's x86-64 page runs, never the libraries):
 * CAIRN_TEST_PAGE_SIZE makes cairn take the OS page for a larger power of
 * two, so that its page-size-dependent code runs as on a kernel with 16 or
 * 64 KiB pages; the kernel's own page divides it, so every call stays
 * valid. Anything else stops the program with one line. */
static void force_page_size(void)
{
	kernel_page = page_size;
	const char *v = getenv("CAIRN_TEST_PAGE_SIZE");
	if (v == NULL)
		return;
	size_t n = 0;
	const char *p = v;
	while (*p >= '0' && *p <= '9' && n <= (1ul << 24))
		n = n * 10 + (size_t)(*p++ - '0');
	if (*p != '\0' || n < page_size || n > (1ul << 20) || (n & (n - 1)) != 0) {
		static const char msg[] = "cairn: CAIRN_TEST_PAGE_SIZE: want a power of two from "
		                          "the OS page size to 1048576\n";
		os_write_stderr(msg, sizeof msg - 1);
		_exit(2);
	}
	page_size = n;
}

/* A kernel with larger pages maps at multiples of them; this one maps at
 * multiples of its own: each mapping gets the difference as slack and is
 * trimmed to start at a multiple of the forced page. */
static size_t forced_slack(void)
{
	return page_size - kernel_page;
}

static void *forced_align(void *raw, size_t size)
{
	uintptr_t start = ((uintptr_t)raw + page_size - 1) & ~(uintptr_t)(page_size - 1);
	size_t head = start - (uintptr_t)raw, tail = forced_slack() - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap((char *)start + size, tail);
	return (void *)start;
}
#else
static void force_page_size(void)
{
}

static size_t forced_slack(void)
{
	return 0;
}

static void *forced_align(void *raw, size_t size)
{
	return raw;
}
#endif

void os_init(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		page_size = (size_t)ps;
	force_page_size();
	os_fault_init();
}

size_t os_page_size(void)
{
	return page_size;
}

static void *map_raw(size_t size, int extra_flags)
{
	if (FAULT(MAP))
		return NULL;
	int saved = errno;
	void *p = mmap(NULL, size + forced_slack(), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
	errno = saved;
	return p == MAP_FAILED ? NULL : forced_align(p, size);
}

bool os_unmap(void *addr, size_t size)
{
	if (FAULT(UNMAP))
		return false;
	int saved = errno;
	bool ok = munmap(addr, size) == 0;
	errno = saved;
	return ok;
}

void *os_map_aligned(size_t size, size_t align)
{
	/* Try the exact size first: the kernel often hands out aligned
	 * addresses when earlier mappings were aligned. Otherwise map with
	 * slack and trim both ends. */
	void *p = map_raw(size, 0);
	if (p == NULL)
		return NULL;
	if (((uintptr_t)p & (align - 1)) == 0)
		return p;
	os_unmap(p, size);
	size_t total = size + align - page_size;
	if (total < size)
		return NULL;
	char *raw = map_raw(total, 0);
	if (raw == NULL)
		return NULL;
	uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = start - (uintptr_t)raw;
	size_t tail = total - head - size;
	if (head)
		os_unmap(raw, head);
	if (tail)
		os_unmap((char *)start + size, tail);
	return (void *)start;
}

/* Rounds [addr, addr + size) inward to whole OS pages; false if empty. */
static bool inward(void **addr, size_t *size)
{
	uintptr_t start = ((uintptr_t)*addr + page_size - 1) & ~(uintptr_t)(page_size - 1);
	uintptr_t end = ((uintptr_t)*addr + *size) & ~(uintptr_t)(page_size - 1);
	if (end <= start)
		return false;
	*addr = (void *)start;
	*size = end - start;
	return true;
}

bool os_purge(void *addr, size_t size)
{
	if (!inward(&addr, &size))
		return true;
	if (FAULT(PURGE))
		return false;
	int saved = errno;
	bool ok = madvise(addr, size, MADV_DONTNEED) == 0;
	errno = saved;
	return ok;
}

bool os_purge_lazy(void *addr, size_t size)
{
	if (!inward(&addr, &size))
		return true;
	if (FAULT(PURGE))
		return os_purge(addr, size);
	int saved = errno;
	bool ok = madvise(addr, size, MADV_FREE) == 0;
	errno = saved;
	return ok || os_purge(addr, size);
}

bool os_remap_inplace(void *addr, size_t old_size, size_t new_size)
{
	if (FAULT(REMAP))
		return false;
	int saved = errno;
	void *p = mremap(addr, old_size, new_size, 0);
	errno = saved;
	return p != MAP_FAILED;
}

bool os_remap_to(void *addr, size_t old_size, void *to, size_t new_size)
{
	if (FAULT(REMAP))
		return false;
	int saved = errno;
	void *p = mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	errno = saved;
	return p == to;
}

void os_hugepage_advise(void *addr, size_t size)
{
	int saved = errno;
	madvise(addr, size, MADV_HUGEPAGE);
	errno = saved;
}

void os_hugepage_forbid(void *addr, size_t size)
{
	int saved = errno;
	madvise(addr, size, MADV_NOHUGEPAGE);
	errno = saved;
}

uint64_t os_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads a small file into buf (NUL-terminated) with raw system calls. */
bool os_read_file(const char *path, char *buf, size_t cap)
{
	int saved = errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = false;
	if (fd >= 0) {
		ssize_t n = read(fd, buf, cap - 1);
		if (n >= 0) {
			buf[n] = '\0';
			ok = true;
		}
		close(fd);
	}
	errno = saved;
	return ok;
}

bool os_thp_always(void)
{
	/* "always [madvise] never": the bracketed word is the mode. */
	char buf[128];
	if (!os_read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)))
		return false;
	for (const char *p = buf; *p; p++)
		if (p[0] == '[')
			return p[1] == 'a' && p[2] == 'l';
	return false;
}

void os_wait_on(_Atomic int *word, int expected)
{
	int saved = errno;
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
	errno = saved;
}

void os_wake_one(_Atomic int *word)
{
	int saved = errno;
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}

unsigned os_ncpus(void)
{
	/* sched_getaffinity into a stack buffer: CPU_ALLOC would call malloc,
	 * and sysconf counts CPUs the process may not run on. */
	unsigned long mask[512 / sizeof(unsigned long)];
	int saved = errno;
	long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	errno = saved;
	if (n <= 0)
		return 1;
	unsigned count = 0;
	for (long i = 0; i < n / (long)sizeof(unsigned long); i++)
		count += (unsigned)__builtin_popcountl(mask[i]);
	return count ? count : 1;
}

const char *os_getenv(const char *name)
{
	return secure_getenv(name);
}

void os_write_stderr(const char *buf, size_t len)
{
	int saved = errno;
	while (len > 0) {
		ssize_t n = write(2, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	errno = saved;
}

uint64_t os_random(void)
{
	uint64_t v = 0;
	int saved = errno;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&v;
	}
	errno = saved;
	return v;
}

unsigned os_live_threads(void)
{
	/* /proc/self/stat: "pid (comm) S ppid ... num_threads(20th) ...";
	 * comm may hold spaces and parentheses, so fields count from the
	 * last ')'. The leader's state is the process's: a leader that
	 * called pthread_exit stays a zombie, and counted, until the last
	 * thread exits. */
	char buf[1024];
	if (!os_read_file("/proc/self/stat", buf, sizeof(buf)))
		return 0;
	const char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return 0;
	char state = p[2];
	p += 2;
	for (int field = 3; field < 20; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	unsigned long n = strtoul(p, NULL, 10);
	if (state == 'Z' || state == 'X')
		n = n > 0 ? n - 1 : 0;
	return (unsigned)n;
}

unsigned os_thread_id(void)
{
	return (unsigned)syscall(SYS_gettid);
}

unsigned os_process_id(void)
{
	return (unsigned)getpid();
}

void os_thread_name(pthread_t t, const char *name)
{
	int saved = errno;
	pthread_setname_np(t, name);
	errno = saved;
}
