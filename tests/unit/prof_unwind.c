/* SPDX-License-Identifier: MIT */
/* The profiler's unwinder: its walk by cached CFA rules gives the very
 * stacks libgcc's unwinder gives, wherever a sample may be taken. Each case
 * takes both backtraces in one function, twice (the second from the
 * cache), and compares them frame by frame (the first, that function's
 * own, at the two calls):
 *   recursion  10,000 distinct stacks of 20 to 40 frames through two call
 *              sites, the cache's slots reused many times over;
 *   thread     in a new thread (its stack ends at clone's frame);
 *   fork       in a child, whose cache is its parent's;
 *   dlopen     from a callback of a library loaded with dlopen (zlib's
 *              allocator hook), loaded after the cache was filled;
 *   from_file  every rule so far came from the objects' files (pread),
 *              not through their mappings, whose pages that would fault in;
 *   replaced   a library whose file was replaced on disk after it was
 *              loaded (as a package upgrade does), before and after its
 *              first rules were read: its file is not the object mapped,
 *              so its rules are read through the mapping, and the stacks
 *              are still libgcc's;
 *   no_fde     through code with no unwind table (a trampoline written at
 *              run time): both stop at it;
 *   signal     in a signal handler: the signal frame's rule is libgcc's,
 *              so the walk falls back, with the same result;
 *   asks       a walk whose frames are all in code never unloaded (the
 *              program, the C library) does not ask the loader whether
 *              objects were unloaded; one through a dlopen'ed library
 *              does, before it takes that library's cached rules;
 *   (each)     a walk from registers taken in the comparing function
 *              (prof_backtrace_from), as a sample takes them, gives the
 *              same callers, without that function's frame;
 *   fast       the fast walk served all but the signal case (fallbacks
 *              counted), and at least a frame of the caller's is in it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "prof/cfa.h"
#include "prof/fde.h"
#include "prof/unwind.h"

const char *malloc_conf = "prof:true,prof_gdump:false,prof_final:false,background_thread:false";

#define MAX 128

static unsigned compared, mismatched;

/* A walk from registers taken a frame further out, as a sample's is. */
static __attribute__((noinline)) unsigned from_inside(const struct prof_regs *r, uintptr_t *pcs)
{
	unsigned n = prof_backtrace_from(r, pcs, MAX);
	__asm__ volatile("" ::"r"(n) : "memory");
	return n;
}

/* Both backtraces, here; true when they agree. A walk from registers
 * taken here leaves this frame out, from a frame inside this one, and
 * gives the same callers. */
static __attribute__((noinline)) bool same_here(const char *where)
{
	uintptr_t a[MAX], b[MAX], c[MAX];
	bool ok = true;
	for (int round = 0; round < 2; round++) {
		struct prof_regs r;
		cairn_prof_capture(&r);
		unsigned nc = from_inside(&r, c);
		unsigned na = prof_backtrace(a, MAX);
		unsigned nb = prof_backtrace_libgcc(b, MAX);
		if (na == 0 || nc != na - 1 || memcmp(c, a + 1, nc * sizeof *c) != 0) {
			if (mismatched++ < 5)
				fprintf(stderr,
				        "%s: %u frames from registers taken here against %u\n",
				        where, nc, na);
			ok = false;
		}
		compared++;
		/* The first frames are this function's, at its two calls. */
		bool first = na > 0 && nb > 0 && a[0] - (uintptr_t)same_here < 4096 &&
		             b[0] - (uintptr_t)same_here < 4096;
		if (na != nb || !first || na < 2 ||
		    memcmp(a + 1, b + 1, (na - 1) * sizeof *a) != 0) {
			if (mismatched++ < 5) {
				fprintf(stderr, "%s: %u frames against libgcc's %u\n", where, na,
				        nb);
				for (unsigned i = 0; i < (na > nb ? na : nb) && i < 64; i++)
					fprintf(stderr, "  %2u %#lx %#lx\n", i,
					        i < na ? (unsigned long)a[i] : 0ul,
					        i < nb ? (unsigned long)b[i] : 0ul);
			}
			ok = false;
		}
	}
	return ok;
}

static bool walk(unsigned k, int level);

static __attribute__((noinline)) bool walk_a(unsigned k, int level)
{
	bool r = walk(k, level);
	__asm__ volatile("" ::"r"(r) : "memory");
	return r;
}

static __attribute__((noinline)) bool walk_b(unsigned k, int level)
{
	char pad[64 + (k & 3) * 32]; /* frames of several sizes */
	memset(pad, (int)k, sizeof pad);
	__asm__ volatile("" ::"r"(pad) : "memory");
	bool r = walk(k, level);
	__asm__ volatile("" ::"r"(r) : "memory");
	return r;
}

static __attribute__((noinline)) bool walk(unsigned k, int level)
{
	if (level == 0)
		return same_here("recursion");
	bool r = (k & 1) ? walk_a(k >> 1, level - 1) : walk_b(k >> 1, level - 1);
	__asm__ volatile("" ::"r"(r) : "memory");
	return r;
}

static void *in_thread(void *arg)
{
	return (void *)(uintptr_t)(walk(0x5a5, 12) && same_here("thread"));
}

/* zlib's allocator hook: a sample's stack through a dlopen'ed library. */
static bool dl_ok = true;
static unsigned dl_calls;

static void *z_alloc(void *opaque, unsigned n, unsigned size)
{
	dl_calls++;
	dl_ok &= same_here("dlopen");
	return calloc(n, size);
}

static void z_free(void *opaque, void *p)
{
	free(p);
}

/* zlib's z_stream, as zlib.h lays it out (zlib is loaded, not linked). */
struct z_stream {
	const unsigned char *next_in;
	unsigned avail_in;
	unsigned long total_in;
	unsigned char *next_out;
	unsigned avail_out;
	unsigned long total_out;
	const char *msg;
	void *state;
	void *(*zalloc)(void *, unsigned, unsigned);
	void (*zfree)(void *, void *);
	void *opaque;
	int data_type;
	unsigned long adler, reserved;
};

/* zlib's deflateInit_ and deflateEnd from handle z, or with inflate its
 * inflateInit_ and inflateEnd (other return addresses), with the hooks
 * above: whether they allocated and every stack was libgcc's. */
static bool zlib_stacks(void *z, bool inflate)
{
	int (*deflate_init)(struct z_stream *, int, const char *, int) = dlsym(z, "deflateInit_");
	int (*inflate_init)(struct z_stream *, const char *, int) = dlsym(z, "inflateInit_");
	int (*end)(struct z_stream *) = dlsym(z, inflate ? "inflateEnd" : "deflateEnd");
	if (deflate_init == NULL || inflate_init == NULL || end == NULL)
		return false;
	struct z_stream s = {.zalloc = z_alloc, .zfree = z_free};
	unsigned calls = dl_calls;
	dl_ok = true;
	bool ok = (inflate ? inflate_init(&s, "1.2.13", (int)sizeof s)
	                   : deflate_init(&s, 6, "1.2.13", (int)sizeof s)) == 0;
	end(&s);
	return ok && dl_calls > calls && dl_ok;
}

/* The file an object was loaded from, by an address in it. */
struct find_path {
	uintptr_t addr;
	char path[4096];
};

static int find_path(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_path *f = arg;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type == PT_LOAD && f->addr - info->dlpi_addr - p->p_vaddr < p->p_memsz) {
			snprintf(f->path, sizeof f->path, "%s", info->dlpi_name);
			return 1;
		}
	}
	return 0;
}

static bool copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;
	bool ok = in != NULL && out != NULL;
	while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
		ok = fwrite(buf, 1, n, out) == n;
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		ok &= fclose(out) == 0;
	return ok;
}

/* Changes a byte of the GNU build-id of the ELF file at path: the same
 * code and tables, told apart by their build-id alone. */
static bool flip_build_id(const char *path)
{
	FILE *f = fopen(path, "r+b");
	ElfW(Ehdr) e;
	bool done = false;
	if (f == NULL)
		return false;
	if (fread(&e, sizeof e, 1, f) != 1)
		goto out;
	for (unsigned i = 0; i < e.e_phnum && !done; i++) {
		ElfW(Phdr) p;
		unsigned char n[512];
		if (fseek(f, (long)(e.e_phoff + (uint64_t)i * e.e_phentsize), SEEK_SET) != 0 ||
		    fread(&p, sizeof p, 1, f) != 1)
			goto out;
		if (p.p_type != PT_NOTE || p.p_filesz > sizeof n ||
		    fseek(f, (long)p.p_offset, SEEK_SET) != 0 || fread(n, p.p_filesz, 1, f) != 1)
			continue;
		for (size_t at = 0; at + 12 <= p.p_filesz;) {
			uint32_t namesz, descsz, type;
			memcpy(&namesz, n + at, 4);
			memcpy(&descsz, n + at + 4, 4);
			memcpy(&type, n + at + 8, 4);
			size_t desc = at + 12 + ((namesz + 3) & ~3u);
			if (type == NT_GNU_BUILD_ID && descsz > 0 && desc < p.p_filesz) {
				unsigned char b = (unsigned char)(n[desc] ^ 0xff);
				done = fseek(f, (long)(p.p_offset + desc), SEEK_SET) == 0 &&
				       fwrite(&b, 1, 1, f) == 1;
				break;
			}
			at = desc + ((descsz + 3) & ~3u);
		}
	}
out:
	done &= fclose(f) == 0;
	return done;
}

/* Renames over lib a copy of it (made at other) that differs in its
 * build-id alone. */
static bool replace(const char *lib, const char *other)
{
	return copy_file(lib, other) && flip_build_id(other) && rename(other, lib) == 0;
}

/* Whether zlib_stacks(z, inflate) took libgcc's stacks and read some
 * rule through a mapping. */
static bool stacks_through_mapping(void *z, bool inflate)
{
	unsigned long before = fde_reads().mapping;
	return zlib_stacks(z, inflate) && fde_reads().mapping > before;
}

static void *trampoline_arg_fn(void *arg)
{
	*(bool *)arg = same_here("no_fde");
	return NULL;
}

static volatile sig_atomic_t sig_ok;

static void on_signal(int sig)
{
	sig_ok = same_here("signal") ? 1 : 2;
}

int main(void)
{
	free(malloc(1));
	TEST_CASE("recursion")
	{
		unsigned bad = 0;
		for (unsigned k = 0; k < 10000; k++)
			bad += !walk(k * 2654435761u, 20 + k % 21);
		CHECK(bad == 0, "%u of 10000 stacks differ", bad);
	}
	TEST_CASE("thread")
	{
		pthread_t t;
		void *r = NULL;
		pthread_create(&t, NULL, in_thread, NULL);
		pthread_join(t, &r);
		CHECK(r != NULL, "a thread's stacks differ");
	}
	TEST_CASE("fork")
	{
		pid_t pid = fork();
		if (pid == 0)
			_exit(walk(77, 25) && same_here("fork") ? 0 : 1);
		int status = 0;
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "a fork child's stacks differ");
	}
	TEST_CASE("dlopen")
	{
		void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		REQUIRE(z != NULL, "dlopen libz.so.1: %s", dlerror());
		CHECK(zlib_stacks(z, false), "%u calls from zlib, stacks %s", dl_calls,
		      dl_ok ? "the same" : "differ");
		dlclose(z);
		CHECK(same_here("after dlclose"), "stacks differ after dlclose");
	}
#if defined(__x86_64__)
	TEST_CASE("asks")
	{
		walk(12345, 20);
		unsigned long before = cfa_objects_asked();
		unsigned bad = 0;
		for (unsigned k = 0; k < 100; k++)
			bad += !walk(k * 2654435761u, 20 + k % 21);
		unsigned long lasting = cfa_objects_asked() - before;
		void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		REQUIRE(z != NULL, "dlopen libz.so.1: %s", dlerror());
		before = cfa_objects_asked();
		bad += !zlib_stacks(z, false);
		unsigned long loaded = cfa_objects_asked() - before;
		dlclose(z);
		CHECK(bad == 0 && lasting == 0 && loaded > 0,
		      "walks through lasting code asked %lu times, through zlib %lu (stacks %s)",
		      lasting, loaded, bad == 0 ? "the same" : "differ");
	}
#endif
	TEST_CASE("from_file")
	{
		struct fde_reads r = fde_reads();
		CHECK(r.file >= 20 && r.mapping == 0, "%lu rules from files, %lu through mappings",
		      r.file, r.mapping);
	}
	TEST_CASE("replaced")
	{
		/* A copy of zlib loaded from a folder of its own and used,
		 * then a second copy renamed over it, the same but for its
		 * build-id; then the copy loaded again, and the second copy is
		 * what it finds. */
		char dir[] = "/tmp/cairn-unwind-XXXXXX", lib[64], other[64];
		REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
		snprintf(lib, sizeof lib, "%s/libz.so.1", dir);
		snprintf(other, sizeof other, "%s/other", dir);
		void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		REQUIRE(z != NULL, "dlopen libz.so.1: %s", dlerror());
		struct find_path f = {.addr = (uintptr_t)dlsym(z, "deflateEnd")};
		dl_iterate_phdr(find_path, &f);
		REQUIRE(f.path[0] == '/' && copy_file(f.path, lib), "a copy of %s", f.path);
		dlclose(z);
		void *copy = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		REQUIRE(copy != NULL, "dlopen %s: %s", lib, dlerror());
		struct fde_reads before = fde_reads();
		CHECK(zlib_stacks(copy, false), "stacks from the copy differ");
		struct fde_reads after = fde_reads();
		CHECK(after.file > before.file && after.mapping == before.mapping,
		      "the copy's rules: %lu from its file, %lu through its mapping",
		      after.file - before.file, after.mapping - before.mapping);
		REQUIRE(replace(lib, other), "replacing %s", lib);
		/* This program's new frames come from its file. */
		CHECK(stacks_through_mapping(copy, true),
		      "a library replaced on disk since it was met: its rules read from the file, "
		      "or the stacks differ");
		dlclose(copy);
		/* Loaded again: met anew, its notes compared with the file's. */
		copy = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		REQUIRE(copy != NULL, "dlopen %s: %s", lib, dlerror());
		REQUIRE(replace(lib, other), "replacing %s", lib);
		CHECK(stacks_through_mapping(copy, false),
		      "a library replaced on disk before it was met: its rules read from the "
		      "file, or the stacks differ");
		dlclose(copy);
		unlink(lib);
		rmdir(dir);
	}
	TEST_CASE("no_fde")
	{
		/* sub $8,%rsp; call *%rsi; add $8,%rsp; ret: calls rsi(rdi)
		 * from a frame that no unwind table covers. */
		static const unsigned char code[] = {0x48, 0x83, 0xec, 0x08, 0xff, 0xd6,
		                                     0x48, 0x83, 0xc4, 0x08, 0xc3};
		void *m =
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		REQUIRE(m != MAP_FAILED, "mmap");
		memcpy(m, code, sizeof code);
		REQUIRE(mprotect(m, 4096, PROT_READ | PROT_EXEC) == 0, "mprotect");
		bool ok = false;
		void (*tramp)(void *, void *(*)(void *)) = (void (*)(void *, void *(*)(void *)))m;
		unsigned long mapped = fde_reads().mapping;
		tramp(&ok, trampoline_arg_fn);
		CHECK(ok, "stacks through code without unwind tables differ");
		/* In no object: libgcc's lookup (registered frames) decides. */
		CHECK(fde_reads().mapping > mapped, "code in no object looked up in no file");
		munmap(m, 4096);
	}
	unsigned long before = prof_unwind_fallbacks();
	TEST_CASE("signal")
	{
		signal(SIGUSR1, on_signal);
		raise(SIGUSR1);
		CHECK(sig_ok == 1, "stacks in a signal handler differ");
		CHECK(prof_unwind_fallbacks() > before, "no fallback to libgcc for a signal frame");
	}
	TEST_CASE("fast")
	{
		CHECK(mismatched == 0, "%u of %u comparisons differ", mismatched, compared);
		CHECK(before == 0, "%lu walks fell back to libgcc outside signal handlers", before);
		uintptr_t pcs[MAX];
		unsigned n = prof_backtrace(pcs, MAX);
		bool mine = false;
		for (unsigned i = 0; i < n; i++)
			mine |= pcs[i] >= (uintptr_t)main && pcs[i] < (uintptr_t)main + 8192;
		CHECK(n >= 2 && mine, "%u frames, main's %s", n, mine ? "in" : "missing");
	}
	return CHECK_DONE();
}
