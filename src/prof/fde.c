/* SPDX-License-Identifier: MIT */
/* FDEs read from the objects' files.
 *
 * A frame's rule is read once per return address (cfa.c caches it), but
 * reading .eh_frame_hdr and .eh_frame in place faults their pages into the
 * process, and the kernel maps up to 16 pages around each fault
 * (fault-around): profiling a 2.5 MiB program added 172 KiB of libc's
 * read-only segment to its resident set, most of what profiling cost it.
 * Read with pread, the same bytes come from the page cache and no page of
 * them is mapped.
 *
 * The file is the object's only if it is the one mapped: a library
 * upgraded on disk while the process runs must not lend its rules. When
 * an object is first met, its notes, with the GNU build-id among them, are
 * compared with the mapped ones (in its first page, which the loader read)
 * and the file's identity (device, inode) is kept; each later read opens
 * the file again and checks that identity. Where that cannot be shown (no
 * build-id, no file: the vDSO, a file removed or replaced), or the table
 * is not in the one format linkers write (sorted, 4-byte offsets from the
 * table), the caller reads the mapping as before.
 *
 * Each object's table is kept as an index of at most INDEX_MAX entries
 * (every step-th FDE's start), so that a lookup reads one block of the
 * table, the FDE and its CIE: with the open, the identity check and the
 * close, 6 system calls, 5 where the CIE is the one read last. */
#define _GNU_SOURCE
#include "prof/fde.h"

#include <link.h>
#include <string.h>

#include "core/lock.h"
#include "os/file.h"
#include "prof/dwarf.h"

#define DW_EH_PE_udata4     0x03
#define DW_EH_PE_datarel_s4 0x3b
#define NOTES_BYTES         256
#define NT_BUILD_ID         3
#define MAX_LOADS           8
/* Entries of the table read at once: 512 bytes. */
#define BLOCK 64
/* Objects whose tables are kept (about 720 bytes each, in .bss: only those
 * used are touched), and the size of each one's index. */
#define OBJECTS   64
#define INDEX_MAX 128

struct table {
	uintptr_t base;          /* where the object is loaded (dlpi_addr) */
	unsigned long long subs; /* objects unloaded before it was met */
	bool used, usable;       /* usable: its file serves it */
	uint64_t id[2];          /* its file's identity */
	uint64_t entries;        /* link-time address of its table's entries */
	uint64_t hdr;            /* ... and of .eh_frame_hdr, which they are from */
	uint32_t count, step, nindex;
	int32_t index[INDEX_MAX]; /* entry k * step's start */
	uint64_t cie_at;          /* the CIE read last, 0 for none */
	uint8_t cie[CIE_BYTES];
};

static struct table tables[OBJECTS];
static unsigned next_victim;
static cairn_mutex tables_lock = CAIRN_MUTEX_INIT;
static unsigned long file_reads, mapping_reads;

struct file {
	int fd;
	const ElfW(Phdr) * load[MAX_LOADS];
	unsigned nload;
};

/* n bytes at link-time address v into buf, exactly; false where no
 * segment holds them in the file. */
static bool read_exact(const struct file *f, void *buf, uint64_t n, uint64_t v)
{
	for (unsigned i = 0; i < f->nload; i++) {
		const ElfW(Phdr) *p = f->load[i];
		if (v >= p->p_vaddr && v - p->p_vaddr <= p->p_filesz &&
		    n <= p->p_filesz - (v - p->p_vaddr))
			return os_file_read_at(f->fd, buf, n, p->p_offset + (v - p->p_vaddr)) ==
			       (ssize_t)n;
	}
	return false;
}

/* A record whose length is its first word, at link-time address v, into
 * buf (cap bytes): true when all of it fit and was read. */
static bool read_record(const struct file *f, uint8_t *buf, size_t cap, uint64_t v)
{
	for (unsigned i = 0; i < f->nload; i++) {
		const ElfW(Phdr) *p = f->load[i];
		if (v >= p->p_vaddr && v - p->p_vaddr < p->p_filesz) {
			uint64_t left = p->p_filesz - (v - p->p_vaddr);
			ssize_t n = os_file_read_at(f->fd, buf, left < cap ? left : cap,
			                            p->p_offset + (v - p->p_vaddr));
			uint32_t len;
			if (n < 8)
				return false;
			memcpy(&len, buf, 4);
			return len != 0xffffffffu && len <= (size_t)n - 4;
		}
	}
	return false;
}

/* Whether notes [n, n + size) hold a GNU build-id. */
static bool has_build_id(const uint8_t *n, size_t size)
{
	size_t at = 0;
	while (size - at >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, n + at, 4);
		memcpy(&descsz, n + at + 4, 4);
		memcpy(&type, n + at + 8, 4);
		size_t name_at = at + 12, desc_at = name_at + ((namesz + 3u) & ~3u);
		if (desc_at > size || descsz > size - desc_at)
			return false;
		if (type == NT_BUILD_ID && namesz == 4 && memcmp(n + name_at, "GNU", 4) == 0 &&
		    descsz > 0)
			return true;
		at = desc_at + ((descsz + 3u) & ~3u);
	}
	return false;
}

/* Whether the file holds the notes mapped for info's object: a build-id
 * among them and every byte the same. */
static bool same_notes(const struct file *f, const struct dl_phdr_info *info)
{
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_NOTE || p->p_filesz > NOTES_BYTES || p->p_filesz < 12)
			continue;
		const uint8_t *mapped = (const uint8_t *)(info->dlpi_addr + p->p_vaddr);
		if (!has_build_id(mapped, p->p_filesz))
			continue;
		uint8_t buf[NOTES_BYTES];
		return os_file_read_at(f->fd, buf, p->p_filesz, p->p_offset) ==
		           (ssize_t)p->p_filesz &&
		       memcmp(buf, mapped, p->p_filesz) == 0;
	}
	return false;
}

/* Fills t for the object whose .eh_frame_hdr is at link-time address hdr,
 * its file f verified: the table's place and its index. */
static bool fill(struct table *t, const struct file *f, uint64_t hdr)
{
	uint8_t h[4];
	if (!os_file_id(f->fd, t->id) || !read_exact(f, h, 4, hdr) || h[0] != 1 ||
	    h[2] != DW_EH_PE_udata4 || h[3] != DW_EH_PE_datarel_s4)
		return false;
	/* The pointer to .eh_frame (not needed: the entries point at the
	 * FDEs), then the count. */
	unsigned ptr = enc_size(h[1]);
	uint32_t count;
	if (ptr == 0 || !read_exact(f, &count, 4, hdr + 4 + ptr) || count == 0)
		return false;
	t->hdr = hdr;
	t->entries = hdr + 8 + ptr;
	t->count = count;
	t->step = (count + INDEX_MAX - 1) / INDEX_MAX;
	t->nindex = (count + t->step - 1) / t->step;
	/* A block at a time where the indexed entries are close. */
	int32_t e[2 * BLOCK];
	uint32_t first = 0, n = 0;
	for (uint32_t k = 0; k < t->nindex; k++) {
		uint32_t i = k * t->step;
		if (i >= first + n) {
			first = i;
			/* Far apart: the one entry alone. */
			n = t->step >= BLOCK ? 1 : count - i < BLOCK ? count - i : BLOCK;
			if (!read_exact(f, e, (uint64_t)n * 8, t->entries + (uint64_t)i * 8))
				return false;
		}
		t->index[k] = e[2 * (i - first)];
	}
	t->cie_at = 0;
	return true;
}

/* The entry whose FDE is the last to start at or before target (an
 * offset from .eh_frame_hdr) into *fde; false when none does. */
static bool search(const struct table *t, const struct file *f, int64_t target, int32_t fde[2])
{
	if (t->index[0] > target)
		return false;
	uint32_t lo = 0, hi = t->nindex;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->index[mid] <= target)
			lo = mid;
		else
			hi = mid;
	}
	/* In entries [lo, hi): every one from hi on starts after target. */
	hi = lo + 1 < t->nindex ? (lo + 1) * t->step : t->count;
	lo *= t->step;
	int32_t e[2 * BLOCK];
	while (hi - lo > BLOCK) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (!read_exact(f, e, 4, t->entries + (uint64_t)mid * 8))
			return false;
		if (e[0] <= target)
			lo = mid;
		else
			hi = mid;
	}
	if (!read_exact(f, e, (uint64_t)(hi - lo) * 8, t->entries + (uint64_t)lo * 8))
		return false;
	int i = (int)(hi - lo) - 1;
	while (i > 0 && e[2 * i] > target)
		i--;
	fde[0] = e[2 * i];
	fde[1] = e[2 * i + 1];
	return e[2 * i] <= target;
}

/* The FDE of entry fde and its CIE into out. */
static bool copy_fde(struct table *t, const struct file *f, const int32_t fde[2],
                     struct fde_copy *out)
{
	uint64_t at = t->hdr + (uint64_t)(int64_t)fde[1];
	int32_t cie_off;
	if (!read_record(f, out->fde, FDE_BYTES, at))
		return false;
	memcpy(&cie_off, out->fde + 4, 4);
	if (cie_off <= 0)
		return false;
	uint64_t cie = at + 4 - (uint64_t)(int64_t)cie_off;
	if (cie != t->cie_at) {
		t->cie_at = 0;
		if (!read_record(f, t->cie, CIE_BYTES, cie))
			return false;
		t->cie_at = cie;
	}
	memcpy(out->cie, t->cie, CIE_BYTES);
	out->func = (uintptr_t)(t->hdr + (uint64_t)(int64_t)fde[0]);
	return true;
}

/* The table kept for the object at base (a new one, perhaps another
 * object's taken over, when none is): tables_lock held. */
static struct table *table_of(uintptr_t base, unsigned long long subs, bool *fresh)
{
	struct table *free_one = NULL;
	for (unsigned i = 0; i < OBJECTS; i++) {
		struct table *t = &tables[i];
		/* An object unloaded since: another may be at its place. */
		if (t->used && t->subs != subs)
			t->used = false;
		if (t->used && t->base == base) {
			*fresh = false;
			return t;
		}
		if (!t->used && free_one == NULL)
			free_one = t;
	}
	if (free_one == NULL)
		free_one = &tables[next_victim++ % OBJECTS];
	*fresh = true;
	*free_one = (struct table){.base = base, .subs = subs, .used = true};
	return free_one;
}

struct query {
	uintptr_t pc; /* sought: a code address */
	struct fde_copy *out;
	bool ok; /* *out filled from the file */
};

/* Where pc lies in info's object, its FDE from its file (the loader's lock
 * held: the object stays while it is read). */
static void lookup(struct query *q, struct dl_phdr_info *info, const ElfW(Phdr) * eh,
                   struct file *f)
{
	/* The program itself is named "" (glibc) or as it was started
	 * (musl, maybe a relative path): the kernel's name for its file is the
	 * one to open. Whatever is opened, only its notes or its identity
	 * say whether it is this object. A file that cannot be opened when
	 * the object is first met is not tried again. */
	const char *path = info->dlpi_name;
	if (path == NULL || path[0] != '/')
		path = os_program_file();
	/* tables_lock is held across the reads below, system calls though
	 * they are: no allocator lock is held here (samples are taken after
	 * the slow paths leave theirs), and glibc's dl_iterate_phdr already
	 * holds the loader's lock around this callback, so the only threads
	 * that could wait for it are others reading a rule, which wait for
	 * the loader's lock first. Reading the mapping, as before, held that
	 * lock across page faults instead. */
	mutex_lock(&tables_lock);
	bool fresh;
	struct table *t = table_of(info->dlpi_addr, info->dlpi_subs, &fresh);
	if (fresh || t->usable)
		f->fd = os_file_open_read(path);
	uint64_t id[2];
	int32_t fde[2];
	if (f->fd < 0)
		t->usable &= !fresh;
	else if (fresh)
		t->usable = same_notes(f, info) && fill(t, f, eh->p_vaddr);
	else if (!os_file_id(f->fd, id) || id[0] != t->id[0] || id[1] != t->id[1])
		t = NULL; /* not the file it was: the mapping is read instead */
	if (f->fd >= 0 && t != NULL && t->usable &&
	    search(t, f, (int64_t)(q->pc - info->dlpi_addr - t->hdr), fde) &&
	    copy_fde(t, f, fde, q->out)) {
		q->out->func += info->dlpi_addr;
		q->ok = true;
	}
	mutex_unlock(&tables_lock);
	if (f->fd >= 0)
		os_file_close(f->fd);
}

static int find(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct query *q = arg;
	const ElfW(Phdr) *eh = NULL;
	uintptr_t at = q->pc - info->dlpi_addr;
	bool mapped = false;
	struct file f = {.fd = -1};
	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type == PT_LOAD) {
			if (at >= p->p_vaddr && at - p->p_vaddr < p->p_memsz)
				mapped = true;
			if (f.nload < MAX_LOADS)
				f.load[f.nload++] = p;
		} else if (p->p_type == PT_GNU_EH_FRAME) {
			eh = p;
		}
	}
	if (!mapped)
		return 0;
	if (eh != NULL)
		lookup(q, info, eh, &f);
	return 1;
}

bool fde_from_file(uintptr_t pc, struct fde_copy *out)
{
	struct query q = {.pc = pc, .out = out};
	dl_iterate_phdr(find, &q);
	if (q.ok)
		__atomic_fetch_add(&file_reads, 1, __ATOMIC_RELAXED);
	return q.ok;
}

void fde_postfork_child(void)
{
	/* A table may have been half filled. */
	if (mutex_reset_was_held(&tables_lock))
		memset(tables, 0, sizeof(tables));
}

void fde_count_mapping_read(void)
{
	__atomic_fetch_add(&mapping_reads, 1, __ATOMIC_RELAXED);
}

struct fde_reads fde_reads(void)
{
	return (struct fde_reads){
	    .file = __atomic_load_n(&file_reads, __ATOMIC_RELAXED),
	    .mapping = __atomic_load_n(&mapping_reads, __ATOMIC_RELAXED),
	};
}
