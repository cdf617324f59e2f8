/* SPDX-License-Identifier: MIT */
/* The leak report at exit (leak.h). It runs from cairn's library
 * destructor, late in exit, so it uses nothing that allocates: the stacks
 * are read from the profiler's table into a fixed array, the numbers are
 * formatted by hand, the lines go out through cairn_message (write(2)).
 *
 * A frame is named in two steps. dladdr1 gives the object file, its load
 * bias and, where the object exports one, the dynamic symbol around the
 * address; glibc's dladdr walks the loaded objects' own tables under the
 * loader's lock and calls no malloc. A function the object does not export
 * (a static function, or any function of a program not linked with
 * -rdynamic) is then looked up in the file's .symtab, the file mapped
 * read-only. File and line would need the DWARF line tables, which are not
 * read here: each frame carries its object and its address in that object,
 * and the report gives the addr2line command that turns them into a file
 * and a line. */
#define _GNU_SOURCE
#include "prof/leak.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include "core/util.h"
#include "os/file.h"
#include "prof/objects.h"
#include "prof/prof.h"

/* ------------------------------------------------------------ estimates
 *
 * A block of n bytes is sampled with probability 1 - e^(-n/interval) (the
 * sample points are a Poisson process over the bytes allocated), so a
 * stack whose samples average n bytes stands for 1 / (1 - e^(-n/interval))
 * times as many: jeprof's scaling of a heap_v2 profile, stack by stack.
 * libcairn does not link libm, hence the two functions below. */

#define LN2 0.69314718055994530942

/* e^-x for x >= 0: x = k ln2 + r with r in [0, ln2), e^-r by its series
 * (the terms after r^18/18! are below 1e-17), 2^-k put in the exponent. */
static double exp_neg(double x)
{
	if (!(x < 700))
		return 0;
	int k = (int)(x / LN2);
	double r = x - k * LN2, term = 1, sum = 1;
	for (int i = 1; i <= 18; i++) {
		term *= -r / i;
		sum += term;
	}
	union {
		double d;
		uint64_t u;
	} two = {.u = (uint64_t)(1023 - k) << 52};
	return sum * two.d;
}

/* 1 - e^-x for x >= 0, by its own series where x is small: 1 - exp_neg(x)
 * would lose most of its digits there. */
static double one_minus_exp_neg(double x)
{
	if (x >= 0.5)
		return 1 - exp_neg(x);
	double term = x, sum = x;
	for (int i = 2; i <= 20; i++) {
		term *= -x / i;
		sum += term;
	}
	return sum;
}

/* How many blocks (and bytes) the samples of a stack stand for, per
 * sample. */
static double unbias(uint64_t objs, uint64_t bytes, double interval)
{
	double ratio = (double)bytes / (double)objs / interval;
	double seen = one_minus_exp_neg(ratio);
	return seen > 0 ? 1 / seen : 1;
}

static uint64_t round_u64(double x)
{
	return x <= 0 ? 0 : x >= 1.8e19 ? UINT64_MAX : (uint64_t)(x + 0.5);
}

/* ------------------------------------------------------------ the survey */

struct leak {
	const uintptr_t *pcs; /* the stack table's: never freed */
	unsigned depth;
	uint64_t objs, bytes; /* sampled */
	double est_objs, est_bytes;
};

struct survey {
	double interval;
	struct leak top[LEAK_TOP_STACKS]; /* by est_bytes, largest first */
	unsigned ntop;
	uint64_t nstacks;
	double est_objs, est_bytes;
};

/* prof_visit's callback: counts, keeps the largest. */
static void survey_stack(const uintptr_t *pcs, unsigned depth, const struct prof_counts *c,
                         void *arg)
{
	struct survey *s = arg;
	if (c->curobjs == 0) /* a prof_accum stack with nothing live */
		return;
	double scale = unbias(c->curobjs, c->curbytes, s->interval);
	struct leak l = {pcs,
	                 depth,
	                 c->curobjs,
	                 c->curbytes,
	                 (double)c->curobjs * scale,
	                 (double)c->curbytes * scale};
	s->nstacks++;
	s->est_objs += l.est_objs;
	s->est_bytes += l.est_bytes;
	unsigned i;
	if (s->ntop < LEAK_TOP_STACKS) {
		i = s->ntop++;
	} else {
		if (l.est_bytes <= s->top[LEAK_TOP_STACKS - 1].est_bytes)
			return;
		i = LEAK_TOP_STACKS - 1;
	}
	for (; i > 0 && s->top[i - 1].est_bytes < l.est_bytes; i--)
		s->top[i] = s->top[i - 1];
	s->top[i] = l;
}

/* ------------------------------------------------------------ names */

/* One object file mapped at a time: consecutive frames mostly share one. */
static struct {
	char path[512];
	const unsigned char *map;
	size_t size;
} mapped;

static const unsigned char *map_object(const char *path, size_t *size)
{
	if (strcmp(path, mapped.path) == 0) {
		*size = mapped.size;
		return mapped.map;
	}
	if (mapped.map != NULL)
		os_file_unmap(mapped.map, mapped.size);
	size_t n = strlen(path);
	if (n >= sizeof(mapped.path))
		n = 0; /* too long to remember: looked up again next time */
	memcpy(mapped.path, path, n);
	mapped.path[n] = '\0';
	mapped.map = os_file_map(path, &mapped.size);
	*size = mapped.size;
	return mapped.map;
}

static void unmap_object(void)
{
	if (mapped.map != NULL)
		os_file_unmap(mapped.map, mapped.size);
	mapped.map = NULL;
	mapped.path[0] = '\0';
}

/* The function of the ELF file m (size bytes) whose code holds vaddr (an
 * address in the file's own address space), from its .symtab: its name
 * into name (cap bytes, cut if longer) and its start into *start. Every
 * offset is checked against the file's size: the file may be anything. */
static bool symtab_lookup(const unsigned char *m, size_t size, uintptr_t vaddr, char *name,
                          size_t cap, uintptr_t *start)
{
	const unsigned char class = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	if (m == NULL || size < sizeof(ElfW(Ehdr)) || memcmp(m, ELFMAG, SELFMAG) != 0 ||
	    m[EI_CLASS] != class)
		return false;
	const ElfW(Ehdr) *eh = (const void *)m;
	if (eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff % sizeof(void *) != 0 ||
	    eh->e_shoff > size || eh->e_shnum > (size - eh->e_shoff) / sizeof(ElfW(Shdr)))
		return false;
	const ElfW(Shdr) *sh = (const void *)(m + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const ElfW(Shdr) *tab = &sh[i];
		if (tab->sh_type != SHT_SYMTAB || tab->sh_link >= eh->e_shnum ||
		    tab->sh_entsize != sizeof(ElfW(Sym)) || tab->sh_offset % sizeof(void *) != 0 ||
		    tab->sh_offset > size || tab->sh_size > size - tab->sh_offset)
			continue;
		const ElfW(Shdr) *str = &sh[tab->sh_link];
		if (str->sh_offset > size || str->sh_size > size - str->sh_offset)
			continue;
		const ElfW(Sym) *sym = (const void *)(m + tab->sh_offset);
		size_t n = tab->sh_size / sizeof(*sym);
		for (size_t j = 0; j < n; j++) {
			unsigned type = sym[j].st_info & 0xf;
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
			    sym[j].st_shndx == SHN_UNDEF || vaddr < sym[j].st_value ||
			    vaddr - sym[j].st_value >= sym[j].st_size ||
			    sym[j].st_name >= str->sh_size)
				continue;
			const char *s = (const char *)m + str->sh_offset + sym[j].st_name;
			size_t room = str->sh_size - sym[j].st_name;
			size_t len = strnlen(s, room < cap - 1 ? room : cap - 1);
			memcpy(name, s, len);
			name[len] = '\0';
			*start = sym[j].st_value;
			return true;
		}
	}
	return false;
}

struct frame_name {
	bool in_object;
	const char *object; /* the path shown */
	uintptr_t vaddr;    /* the call's address in the object's own address space */
	char func[160];     /* "" when unknown */
	uintptr_t func_off;
};

/* The program's own path, absolute. */
static const char *program_path(void)
{
	static char path[512];
	if (path[0] == '\0' && !os_program_path(path, sizeof(path)))
		path[0] = '\0';
	return path[0] != '\0' ? path : os_program_file();
}

#ifdef CAIRN_NO_DLADDR1
/* Without glibc's dladdr1 (musl), the load bias of the object that holds an
 * address comes from the loader's list of objects, whose first is the
 * program; dl_iterate_phdr calls no malloc in glibc or musl. */
struct bias_query {
	uintptr_t at, bias;
	bool found, first;
	unsigned index;
};

static int find_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct bias_query *q = arg;
	unsigned index = q->index++;
	if (object_segment_of(info, q->at, false) == NULL)
		return 0;
	q->bias = info->dlpi_addr;
	q->first = index == 0;
	q->found = true;
	return 1;
}

static bool object_bias(uintptr_t at, uintptr_t *bias, bool *first)
{
	struct bias_query q = {.at = at};
	dl_iterate_phdr(find_bias, &q);
	*bias = q.bias;
	*first = q.first;
	return q.found;
}
#endif

/* Names the frame whose return address is pc: looked up at pc - 1, inside
 * the call instruction, so that a call that ends its function (a call to a
 * function that does not return) is not put in the next one, and addr2line
 * gives the call's line rather than the one after it. */
static void name_frame(uintptr_t pc, struct frame_name *f)
{
	uintptr_t at = pc - 1;
	Dl_info info;
	struct link_map *lm = NULL;
	f->in_object = false;
	f->object = "";
	f->vaddr = at;
	f->func[0] = '\0';
	f->func_off = 0;
	uintptr_t bias;
	bool first;
#ifndef CAIRN_NO_DLADDR1
	if (dladdr1((void *)at, &info, (void **)&lm, RTLD_DL_LINKMAP) == 0 || lm == NULL)
		return;
	bias = lm->l_addr;
	first = lm->l_prev == NULL;
#else
	(void)lm;
	if (dladdr((void *)at, &info) == 0 || !object_bias(at, &bias, &first))
		return;
#endif
	f->in_object = true;
	f->vaddr = at - bias;
	/* The main program heads the loader's list; dladdr names it as it
	 * was started (argv[0], maybe relative, maybe ""). */
	bool program = first || info.dli_fname == NULL || info.dli_fname[0] == '\0';
	f->object = program ? program_path() : info.dli_fname;
	if (info.dli_sname != NULL && info.dli_saddr != NULL) {
		size_t len = strnlen(info.dli_sname, sizeof(f->func) - 1);
		memcpy(f->func, info.dli_sname, len);
		f->func[len] = '\0';
		f->func_off = at - (uintptr_t)info.dli_saddr;
		return;
	}
	size_t size = 0;
	const unsigned char *m = map_object(program ? os_program_file() : f->object, &size);
	uintptr_t start;
	if (symtab_lookup(m, size, f->vaddr, f->func, sizeof(f->func), &start))
		f->func_off = f->vaddr - start;
}

/* ------------------------------------------------------------ the report */

/* "~N" of an estimate, into buf (at least 24 bytes). */
static const char *approx(char *buf, double x)
{
	buf[0] = '~';
	buf[1 + fmt_u64(buf + 1, round_u64(x))] = '\0';
	return buf;
}

static const char *decimal(char *buf, uint64_t v)
{
	buf[fmt_u64(buf, v)] = '\0';
	return buf;
}

static const char *hex(char *buf, uint64_t v)
{
	buf[fmt_hex(buf, v)] = '\0';
	return buf;
}

static void print_frame(unsigned i, uintptr_t pc, struct frame_name *f)
{
	char num[24], off[24], addr[24];
	name_frame(pc, f);
	const char *func = f->func[0] != '\0' ? f->func : "??";
	const char *plus = f->func[0] != '\0' ? "+" : "";
	if (f->func[0] != '\0')
		hex(off, f->func_off);
	else
		off[0] = '\0';
	hex(addr, f->vaddr);
	/* Outside every object the loader knows (a statically linked
	 * program: no dladdr there), the address itself. */
	cairn_message("  #", decimal(num, i), " ", func, plus, off, " (", f->object,
	              f->in_object ? " " : "", addr, ")", NULL);
}

/* libstdc++'s emergency pool for exceptions (tens of KiB, allocated when
 * libstdc++ is loaded and kept for the life of the process, by design) is
 * no leak of the program's, yet it is live at exit in every process that
 * loads libstdc++, C++ programs and libraries built on it alike: it is
 * given back first, as valgrind has it given back, through the function
 * libstdc++ exports for that. A weak reference: bound only where
 * libstdc++ is loaded, and no lookup (dlsym may allocate). Exceptions that
 * run out of memory later in exit then find no pool, which they only
 * needed with malloc failing. */
extern void _ZN9__gnu_cxx9__freeresEv(void) __attribute__((weak));

bool prof_leak_report(void)
{
	if (_ZN9__gnu_cxx9__freeresEv != NULL)
		_ZN9__gnu_cxx9__freeresEv();
	struct survey s;
	memset(&s, 0, sizeof(s));
	s.interval = (double)prof_sample_interval();
	prof_visit(survey_stack, &s, NULL);
	if (s.nstacks == 0)
		return false;

	char b[24], o[24], n[24], iv[24];
	cairn_message("leak summary: ", approx(b, s.est_bytes), " bytes in ", approx(o, s.est_objs),
	              " objects from ", decimal(n, s.nstacks),
	              s.nstacks == 1 ? " call stack" : " call stacks",
	              ", still allocated at exit (estimated from the sampled blocks; mean "
	              "sampling interval ",
	              decimal(iv, (uint64_t)s.interval), " bytes)", NULL);

	/* The first frame named in an object: the addr2line example. */
	char example_obj[512] = "";
	uintptr_t example_addr = 0;
	for (unsigned k = 0; k < s.ntop; k++) {
		const struct leak *l = &s.top[k];
		char kk[24], nt[24], sb[24], so[24];
		cairn_message("leak ", decimal(kk, k + 1), " of ", decimal(nt, s.nstacks), ": ",
		              approx(b, l->est_bytes), " bytes in ", approx(o, l->est_objs),
		              " objects (sampled: ", decimal(sb, l->bytes), " bytes in ",
		              decimal(so, l->objs), " blocks)", NULL);
		unsigned shown = l->depth < LEAK_TOP_FRAMES ? l->depth : LEAK_TOP_FRAMES;
		for (unsigned i = 0; i < shown; i++) {
			struct frame_name f;
			print_frame(i, l->pcs[i], &f);
			if (example_obj[0] == '\0' && f.in_object) {
				size_t len = strnlen(f.object, sizeof(example_obj) - 1);
				memcpy(example_obj, f.object, len);
				example_obj[len] = '\0';
				example_addr = f.vaddr;
			}
		}
		if (l->depth > shown)
			cairn_message("  ... ", decimal(n, l->depth - shown), " more frames", NULL);
	}
	unmap_object();
	if (s.nstacks > s.ntop)
		cairn_message("the ", decimal(n, s.nstacks - s.ntop),
		              " smaller call stacks are in the final heap profile (prof_final)",
		              NULL);
	if (example_obj[0] != '\0')
		cairn_message("file and line of a frame (OBJECT ADDRESS): addr2line -f -C -i -e ",
		              example_obj, " ", hex(b, example_addr), NULL);
	return true;
}
