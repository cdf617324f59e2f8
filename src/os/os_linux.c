/* SPDX-License-Identifier: MIT */
/* Linux (glibc and musl) implementation of the kernel contract in os.h. */
#define _GNU_SOURCE
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <string.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static size_t page_size = 4096;

#ifdef CAIRN_FAULT_INJECTION
/* Test builds only (make fault): the mapping calls fail on a schedule given
 * in CAIRN_FAULT, read once by os_init:
 *   every:N[:OPTION...]               every Nth call of the kinds chosen
 *   random:SEED:PERCENT[:OPTION...]   each call with that chance, reproducibly
 * with the options limit:L (no more faults after L of them) and
 * only:KIND[+KIND...], the kinds of call being map (mmap), unmap (munmap),
 * purge (madvise DONTNEED or FREE) and remap (mremap); the default is
 * map+purge+remap. A call that fails here is not made, and fails as the
 * kernel's would: no mapping, pages left as they were. With
 * CAIRN_FAULT_REPORT set, a line at exit counts the calls and the faults;
 * cairn_fault_count() gives the faults so far. */
enum { F_MAP, F_UNMAP, F_PURGE, F_REMAP, F_KINDS };
static const char *const fault_kind_name[F_KINDS] = {"map", "unmap", "purge", "remap"};
static struct {
	unsigned mask;
	uint64_t every, seed, percent, limit;
	bool random, report;
	_Atomic uint64_t calls, faults, kind_calls[F_KINDS], kind_faults[F_KINDS];
} fault;

__attribute__((visibility("default"))) uint64_t cairn_fault_count(void)
{
	return atomic_load(&fault.faults);
}

/* Reads a decimal number at *s; false when there is none. */
static bool fault_number(const char **s, uint64_t *v)
{
	const char *p = *s;
	*v = 0;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	*s = p;
	return true;
}

static bool fault_word(const char **s, const char *w)
{
	size_t n = strlen(w);
	if (strncmp(*s, w, n) != 0)
		return false;
	*s += n;
	return true;
}

static void fault_init(void)
{
	const char *s = secure_getenv("CAIRN_FAULT");
	fault.report = secure_getenv("CAIRN_FAULT_REPORT") != NULL;
	if (s == NULL)
		return;
	unsigned mask = 1u << F_MAP | 1u << F_PURGE | 1u << F_REMAP;
	bool ok;
	if (fault_word(&s, "every:"))
		ok = fault_number(&s, &fault.every) && fault.every > 0;
	else if (fault_word(&s, "random:"))
		ok = fault.random = fault_number(&s, &fault.seed) && fault_word(&s, ":") &&
		                    fault_number(&s, &fault.percent);
	else
		ok = false;
	while (ok && *s == ':') {
		s++;
		if (fault_word(&s, "limit:")) {
			ok = fault_number(&s, &fault.limit);
			continue;
		}
		ok = fault_word(&s, "only:");
		for (mask = 0; ok;) {
			int k = 0;
			while (k < F_KINDS && !fault_word(&s, fault_kind_name[k]))
				k++;
			ok = k < F_KINDS;
			mask |= ok ? 1u << k : 0;
			if (*s != '+')
				break;
			s++;
		}
	}
	if (!ok || *s != '\0') {
		static const char msg[] = "cairn: CAIRN_FAULT: not understood; no faults\n";
		os_write_stderr(msg, sizeof msg - 1);
		fault.every = 0;
		fault.random = false;
		return;
	}
	fault.mask = mask;
}

/* Whether this call of the given kind is to fail. */
static bool fault_now(int kind)
{
	atomic_fetch_add(&fault.kind_calls[kind], 1);
	if (!(fault.mask & 1u << kind))
		return false;
	uint64_t i = atomic_fetch_add(&fault.calls, 1) + 1;
	bool fail;
	if (fault.random) {
		uint64_t z = fault.seed + i * 0x9e3779b97f4a7c15ull; /* splitmix64 */
		z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ z >> 27) * 0x94d049bb133111ebull;
		fail = (z ^ z >> 31) % 100 < fault.percent;
	} else {
		fail = fault.every != 0 && i % fault.every == 0;
	}
	if (!fail)
		return false;
	if (fault.limit != 0) {
		uint64_t f = atomic_load(&fault.faults);
		do
			if (f >= fault.limit)
				return false;
		while (!atomic_compare_exchange_weak(&fault.faults, &f, f + 1));
	} else {
		atomic_fetch_add(&fault.faults, 1);
	}
	atomic_fetch_add(&fault.kind_faults[kind], 1);
	return true;
}

static char *fault_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *fault_u64(char *p, uint64_t v)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/* "cairn: fault injection: F faults; f of c map, f of c unmap, ..." */
__attribute__((destructor)) static void fault_report(void)
{
	if (!fault.report)
		return;
	char buf[512], *p = buf;
	p = fault_str(p, "cairn: fault injection: ");
	p = fault_str(fault_u64(p, atomic_load(&fault.faults)), " faults");
	for (int k = 0; k < F_KINDS; k++) {
		p = fault_str(p, k ? ", " : "; ");
		p = fault_str(fault_u64(p, atomic_load(&fault.kind_faults[k])), " of ");
		p = fault_str(fault_u64(p, atomic_load(&fault.kind_calls[k])), " ");
		p = fault_str(p, fault_kind_name[k]);
	}
	*p++ = '\n';
	os_write_stderr(buf, (size_t)(p - buf));
}
#define FAULT(kind) __builtin_expect(fault_now(F_##kind), 0)
#else
#define FAULT(kind) false
static inline void fault_init(void)
{
}
#endif

void os_init(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		page_size = (size_t)ps;
	fault_init();
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
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
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
static bool read_file(const char *path, char *buf, size_t cap)
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
	if (!read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)))
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

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* Appends s to buf (of capacity cap) at *len; false if it does not fit. */
static bool append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return false;
	for (size_t i = 0; i < n; i++)
		buf[(*len)++] = s[i];
	buf[*len] = '\0';
	return true;
}

/* The directory of the process's cgroup v2: the cgroup2 mount point (or
 * CAIRN_CGROUP_ROOT) followed by the path in /proc/self/cgroup. *base_len
 * is the length of the mount point part: walks up stop there. */
static bool cgroup_dir(char *dir, size_t cap, size_t *base_len)
{
	size_t len = 0;
	const char *root = secure_getenv("CAIRN_CGROUP_ROOT");
	if (root != NULL) {
		*base_len = str_len(root);
		return append(dir, cap, &len, root, str_len(root));
	}
	char buf[4096];
	if (!read_file("/proc/self/cgroup", buf, sizeof(buf)))
		return false;
	const char *path = NULL;
	for (char *line = buf; *line;) {
		char *end = line;
		while (*end && *end != '\n')
			end++;
		if (end - line >= 3 && line[0] == '0' && line[1] == ':' && line[2] == ':') {
			*end = '\0';
			path = line + 3;
			break;
		}
		line = *end ? end + 1 : end;
	}
	if (path == NULL)
		return false;
	char info[8192];
	if (!read_file("/proc/self/mountinfo", info, sizeof(info)))
		return false;
	/* A mountinfo line: id parent major:minor root mountpoint options -
	 * fstype source superoptions. */
	for (char *line = info; *line;) {
		char *end = line;
		while (*end && *end != '\n')
			end++;
		char saved_end = *end;
		*end = '\0';
		char *dash = line;
		while ((dash = strstr(dash, " - ")) != NULL &&
		       strncmp(dash + 3, "cgroup2 ", 8) != 0)
			dash++;
		if (dash != NULL) {
			const char *f = line;
			for (int field = 0; field < 4 && f; field++) {
				f = strchr(f, ' ');
				if (f)
					f++;
			}
			if (f) {
				const char *e = strchr(f, ' ');
				if (e && append(dir, cap, &len, f, (size_t)(e - f))) {
					*base_len = len;
					return append(dir, cap, &len, path, str_len(path));
				}
			}
		}
		*end = saved_end;
		line = *end ? end + 1 : end;
	}
	return false;
}

/* Reads NAME in dir and in each directory above it up to the root of the
 * hierarchy (limits can be set on a parent); calls parse on each value
 * found and keeps the smallest positive result. */
static uint64_t cgroup_min(const char *name, uint64_t (*parse)(const char *))
{
	char dir[1024], path[1100], buf[256];
	size_t base_len;
	if (!cgroup_dir(dir, sizeof(dir), &base_len))
		return 0;
	uint64_t best = 0;
	size_t len = str_len(dir);
	for (;;) {
		size_t n = 0;
		path[0] = '\0';
		if (!append(path, sizeof(path), &n, dir, len) ||
		    !append(path, sizeof(path), &n, "/", 1) ||
		    !append(path, sizeof(path), &n, name, str_len(name)))
			break;
		if (read_file(path, buf, sizeof(buf))) {
			uint64_t v = parse(buf);
			if (v != 0 && (best == 0 || v < best))
				best = v;
		}
		/* Up one directory, not above the mount point. */
		while (len > base_len && dir[len - 1] == '/')
			len--;
		while (len > base_len && dir[len - 1] != '/')
			len--;
		while (len > base_len && dir[len - 1] == '/')
			len--;
		if (len <= base_len)
			break;
		dir[len] = '\0';
	}
	return best;
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return 0; /* "max" */
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

/* cpu.max: "max PERIOD" or "QUOTA PERIOD"; CPUs = ceil(quota / period). */
static uint64_t parse_cpu_max(const char *s)
{
	uint64_t quota = parse_u64(s);
	const char *p = strchr(s, ' ');
	uint64_t period = p ? parse_u64(p + 1) : 0;
	if (quota == 0 || period == 0)
		return 0;
	return (quota + period - 1) / period;
}

unsigned os_cgroup_cpus(void)
{
	return (unsigned)cgroup_min("cpu.max", parse_cpu_max);
}

bool os_cgroup_memory(uint64_t *limit, uint64_t *current)
{
	uint64_t high = cgroup_min("memory.high", parse_u64);
	uint64_t max = cgroup_min("memory.max", parse_u64);
	uint64_t lim = high && (!max || high < max) ? high : max;
	if (lim == 0)
		return false;
	char dir[1024], path[1100], buf[64];
	size_t n = 0, base_len;
	if (!cgroup_dir(dir, sizeof(dir), &base_len))
		return false;
	path[0] = '\0';
	if (!append(path, sizeof(path), &n, dir, str_len(dir)) ||
	    !append(path, sizeof(path), &n, "/memory.current", 15) ||
	    !read_file(path, buf, sizeof(buf)))
		return false;
	*limit = lim;
	*current = parse_u64(buf);
	return true;
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
	if (!read_file("/proc/self/stat", buf, sizeof(buf)))
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
