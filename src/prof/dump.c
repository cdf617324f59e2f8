/* SPDX-License-Identifier: MIT */
/* The heap_v2 writer (dump.h). Everything is formatted into one buffer on
 * the dumping thread's stack and written with write(2) when it fills: no
 * stdio, no malloc, so a dump can run from any thread, at exit, or in a
 * forked child, and never reenters the allocator it describes. */
#include "prof/dump.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "os/file.h"
#include "os/os.h"
#include "prof/params.h"
#include "prof/prof.h"

/* The buffer a dump is formatted into (on the dumping thread's stack) and
 * written from when it fills: large enough that the system calls are a
 * small part of a dump, small enough for any thread's stack. prof_visit
 * calls the writer with the table unlocked. */
#define DUMP_BUF 8192
/* Room for the longest line piece formatted at once: " 0x" and 16 digits,
 * or a counts line ("  t*: " and four 20-digit numbers). */
#define DUMP_PIECE 128
/* How many taken names prof_dump_auto skips before it gives up: files left
 * by earlier runs under the same pid (a container's pid 1) are skipped, a
 * directory full of them is not searched for ever. */
#define DUMP_NAME_TRIES 4096

struct dump_out {
	int fd;
	int err; /* the first write error; later output is dropped */
	size_t len;
	char buf[DUMP_BUF];
};

static void out_flush(struct dump_out *o)
{
	if (o->err == 0 && o->len > 0)
		o->err = os_file_write_all(o->fd, o->buf, o->len);
	o->len = 0;
}

/* Makes room for n bytes (n <= DUMP_PIECE) at the end of the buffer. */
static char *out_room(struct dump_out *o, size_t n)
{
	if (DUMP_BUF - o->len < n)
		out_flush(o);
	return o->buf + o->len;
}

static void out_str(struct dump_out *o, const char *s)
{
	for (size_t n = strlen(s); n > 0;) {
		size_t k = n < DUMP_PIECE ? n : DUMP_PIECE;
		memcpy(out_room(o, k), s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

/* "<curobjs>: <curbytes> [<accumobjs>: <accumbytes>]\n", as jemalloc's
 * prof_dump_print_cnts. */
static void out_counts(struct dump_out *o, const struct prof_counts *c)
{
	char *p = out_room(o, DUMP_PIECE), *start = p;
	p += fmt_u64(p, c->curobjs);
	*p++ = ':';
	*p++ = ' ';
	p += fmt_u64(p, c->curbytes);
	*p++ = ' ';
	*p++ = '[';
	p += fmt_u64(p, c->accumobjs);
	*p++ = ':';
	*p++ = ' ';
	p += fmt_u64(p, c->accumbytes);
	*p++ = ']';
	*p++ = '\n';
	o->len += (size_t)(p - start);
}

static void out_stack(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c, void *arg)
{
	struct dump_out *o = arg;
	out_str(o, "@");
	for (unsigned i = 0; i < depth; i++) {
		char *p = out_room(o, DUMP_PIECE);
		p[0] = ' ';
		o->len += 1 + fmt_hex(p + 1, pcs[i]);
	}
	out_str(o, "\n  t*: ");
	out_counts(o, c);
}

/* Copies the process's mappings (Linux's /proc/self/maps) after the
 * stacks, reading straight into the buffer, so that jeprof can map each
 * address to its object file. */
static void out_maps(struct dump_out *o)
{
	int fd = os_open_mappings();
	if (fd < 0) {
		if (o->err == 0)
			o->err = -fd;
		return;
	}
	out_str(o, "\nMAPPED_LIBRARIES:\n");
	for (;;) {
		if (o->len == DUMP_BUF)
			out_flush(o);
		ssize_t n = os_file_read(fd, o->buf + o->len, DUMP_BUF - o->len);
		if (n <= 0) {
			if (n < 0 && o->err == 0)
				o->err = (int)-n;
			break;
		}
		o->len += (size_t)n;
	}
	os_file_close(fd);
}

int prof_dump_to(const char *path)
{
	if (path == NULL)
		return EINVAL;
	struct dump_out o;
	o.fd = os_file_create(path);
	if (o.fd < 0)
		return -o.fd;
	o.err = 0;
	o.len = 0;

	/* The totals line comes first, before the stacks it sums: a first
	 * pass that formats nothing gives them. A stack sampled between the
	 * passes can make the two differ slightly; readers take their figures
	 * from the stacks (jeprof skips the header's counts). */
	struct prof_counts total;
	prof_visit(NULL, NULL, &total);
	out_str(&o, "heap_v2/");
	char *p = out_room(&o, DUMP_PIECE);
	o.len += fmt_u64(p, prof_sample_interval());
	out_str(&o, "\n  t*: ");
	out_counts(&o, &total);

	prof_visit(out_stack, &o, NULL);
	out_maps(&o);
	out_flush(&o);
	int err = os_file_close(o.fd);
	return o.err != 0 ? o.err : err;
}

/* This process's next seq. The count is tagged with the pid it belongs
 * to, so that a forked child, finding its parent's pid there, starts its
 * own count from 0 without a fork handler. */
static _Atomic uint64_t dump_seq;

static uint64_t next_seq(void)
{
	uint64_t pid = os_process_id();
	uint64_t old = atomic_load_explicit(&dump_seq, memory_order_relaxed), next, seq;
	do {
		seq = old >> 32 == pid ? old & 0xffffffffu : 0;
		next = pid << 32 | ((seq + 1) & 0xffffffffu);
	} while (!atomic_compare_exchange_weak_explicit(&dump_seq, &old, next, memory_order_relaxed,
	                                                memory_order_relaxed));
	return seq;
}

/* Formats <prefix>.<pid>.<seq>.<kind>.heap into path: false if it does not
 * fit in PATH_MAX. */
static bool dump_name(char *path, const char *prefix, uint64_t seq, char kind)
{
	size_t n = strlen(prefix);
	/* Two 20-digit numbers, three dots, the kind and ".heap\0". */
	if (n > PATH_MAX - 50)
		return false;
	memcpy(path, prefix, n);
	path[n++] = '.';
	n += fmt_u64(path + n, os_process_id());
	path[n++] = '.';
	n += fmt_u64(path + n, seq);
	path[n++] = '.';
	path[n++] = kind;
	memcpy(path + n, ".heap", sizeof(".heap"));
	return true;
}

int prof_dump_auto(const char *prefix, char kind)
{
	if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'm')
		return EINVAL;
	/* A secure-mode program's options and prefix may have been chosen by
	 * whoever started it (and the default prefix names a file in the
	 * directory they started it in): it writes no profile on its own. A
	 * dump to a path the program names itself (prof_dump_to) still
	 * works. */
	if (os_secure_process())
		return EPERM;
	if (prefix == NULL)
		prefix = cairn_prof.prefix != NULL ? cairn_prof.prefix : "jeprof";
	char path[PATH_MAX];
	int err = EEXIST;
	for (unsigned tries = 0; tries < DUMP_NAME_TRIES && err == EEXIST; tries++) {
		if (!dump_name(path, prefix, next_seq(), kind))
			return ENAMETOOLONG;
		err = prof_dump_to(path);
	}
	return err;
}
