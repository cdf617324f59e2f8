/* SPDX-License-Identifier: MIT */
#include "control/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "core/arena.h"
#include "core/explicit.h"
#include "core/lock.h"
#include "core/stats.h"

static cairn_mutex stats_lock = CAIRN_MUTEX_INIT;
static struct stats last; /* Guarded by stats_lock. */
/* The arenas' numbers, and their sums at [last_narenas]: from cairn's
 * metadata, as their count is known only at run time. Guarded by
 * stats_lock. */
static struct stats_arena *last_arenas;
static unsigned last_narenas;
static uint64_t epoch; /* Guarded by stats_lock. */

struct field {
	const char *name;
	size_t offset;
};

static const struct field fields[] = {
#define TOTAL(name, doc)  {#name, offsetof(struct stats, name)},
#define GLOBAL(name, doc) {#name, offsetof(struct stats, name)},
#define ARENA(name, doc)  {#name, offsetof(struct stats, name)},
#include "core/stats.def"
};

static const struct field arena_fields[] = {
#define ARENA(name, doc)       {#name, offsetof(struct stats_arena, name)},
#define ARENA_TOTAL(name, doc) {#name, offsetof(struct stats_arena, name)},
#include "core/stats.def"
};

static const struct field bin_fields[] = {
#define CLASS(name, doc)       {#name, offsetof(struct stats_bin, name)},
#define CLASS_TOTAL(name, doc) {#name, offsetof(struct stats_bin, name)},
#include "core/stats.def"
};

static const struct field lextent_fields[] = {
#define LEXTENT(name, doc)       {#name, offsetof(struct stats_lextent, name)},
#define LEXTENT_TOTAL(name, doc) {#name, offsetof(struct stats_lextent, name)},
#include "core/stats.def"
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* The snapshot is taken into a copy outside the lock: stats_snapshot takes
 * allocator locks, and a reader must not wait for all of them. */
uint64_t stats_refresh(void)
{
	static struct stats fresh;               /* Guarded by refresh_lock. */
	static struct stats_arena *fresh_arenas; /* Guarded by refresh_lock. */
	static unsigned room;                    /* arenas they hold. Guarded by refresh_lock. */
	static cairn_mutex refresh_lock = CAIRN_MUTEX_INIT;
	mutex_lock(&refresh_lock);
	/* Created arenas too: they are numbered on from the automatic ones.
	 * The numbers only grow (a destroyed arena's is given again), so a
	 * new pair of buffers, from metadata memory that is never given
	 * back, is needed only when they pass the room there is: room for
	 * twice as many then keeps that rare. */
	unsigned n = explicit_narenas();
	if (n > room) {
		unsigned want = n * 2 < ARENAS_MAX ? n * 2 : ARENAS_MAX;
		struct stats_arena *a = stats_arenas_new(want);
		struct stats_arena *b = a != NULL ? stats_arenas_new(want) : NULL;
		if (b != NULL) {
			fresh_arenas = a;
			room = want;
			/* The readers' copy is replaced with it, under
			 * stats_lock below. */
			mutex_lock(&stats_lock);
			last_arenas = b;
			last_narenas = 0;
			mutex_unlock(&stats_lock);
		}
	}
	/* Out of metadata memory: the totals still, no arena's numbers. */
	bool per_arena = n <= room;
	stats_snapshot_arenas(&fresh, per_arena ? fresh_arenas : NULL, per_arena ? n : 0);
	mutex_lock(&stats_lock);
	last = fresh;
	if (per_arena) {
		memcpy(last_arenas, fresh_arenas, sizeof(*last_arenas) * ((size_t)n + 1));
		last_narenas = n;
	}
	uint64_t e = ++epoch;
	mutex_unlock(&stats_lock);
	mutex_unlock(&refresh_lock);
	return e;
}

static const struct field *find(const struct field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

/* A number in decimal (no sign, no leading zero) and the dot after it at
 * *p, below limit; moves *p past both. False if there is none. */
static bool take_index(const char **p, uint64_t limit, unsigned *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return false;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v >= limit)
			return false;
	}
	if (*s++ != '.')
		return false;
	*p = s;
	*out = (unsigned)v;
	return true;
}

static int read_field(const void *base, const struct field *f, size_t n, const char *name,
                      uint64_t *value)
{
	const struct field *k = find(f, n, name);
	if (k == NULL)
		return ENOENT;
	memcpy(value, (const char *)base + k->offset, sizeof(*value));
	return 0;
}

/* "bins.<c>.<name>" or "lextents.<c>.<name>" of bins / lextents. */
static int read_class(const struct stats_bin *bins, const struct stats_lextent *lextents,
                      const char *name, uint64_t *value)
{
	unsigned c;
	if (strncmp(name, "bins.", 5) == 0) {
		name += 5;
		if (!take_index(&name, SC_NSMALL, &c))
			return ENOENT;
		if (strcmp(name, "size") == 0) {
			*value = sc_size[c];
			return 0;
		}
		return read_field(&bins[c], bin_fields, NFIELDS(bin_fields), name, value);
	}
	if (strncmp(name, "lextents.", 9) == 0) {
		name += 9;
		if (!take_index(&name, SC_NLARGE, &c))
			return ENOENT;
		if (strcmp(name, "size") == 0) {
			*value = sc_size[SC_NSMALL + c];
			return 0;
		}
		return read_field(&lextents[c], lextent_fields, NFIELDS(lextent_fields), name,
		                  value);
	}
	return ENOENT;
}

/* "arenas.<i>.<name>", i an arena or 4096 for their sums; stats_lock
 * held. */
static int read_arena(const char *name, uint64_t *value)
{
	unsigned i;
	if (last_arenas == NULL || !take_index(&name, 4097, &i))
		return ENOENT;
	if (i == 4096)
		i = last_narenas;
	else if (i >= last_narenas)
		return ENOENT;
	const struct stats_arena *a = &last_arenas[i];
	if (read_field(a, arena_fields, NFIELDS(arena_fields), name, value) == 0)
		return 0;
	return read_class(a->bins, a->lextents, name, value);
}

int stats_read(const char *name, uint64_t *value)
{
	if (name == NULL || value == NULL)
		return EINVAL;
	mutex_lock(&stats_lock);
	bool none = epoch == 0;
	mutex_unlock(&stats_lock);
	if (none)
		stats_refresh();
	int rc;
	mutex_lock(&stats_lock);
	if (strcmp(name, "epoch") == 0) {
		*value = epoch;
		rc = 0;
	} else if (read_field(&last, fields, NFIELDS(fields), name, value) == 0) {
		rc = 0;
	} else if (strncmp(name, "arenas.", 7) == 0) {
		rc = read_arena(name + 7, value);
	} else {
		rc = read_class(last.bins, last.lextents, name, value);
	}
	mutex_unlock(&stats_lock);
	return rc;
}
