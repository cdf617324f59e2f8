/* SPDX-License-Identifier: MIT */
#include "control/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "core/lock.h"
#include "core/stats.h"

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats last; /* Guarded by stats_lock. */
static uint64_t epoch;    /* Guarded by stats_lock. */

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

static const struct field bin_fields[] = {
#define CLASS(name, doc)       {#name, offsetof(struct stats_bin, name)},
#define CLASS_TOTAL(name, doc) {#name, offsetof(struct stats_bin, name)},
#include "core/stats.def"
};

/* The snapshot is taken into a copy outside the lock: stats_snapshot takes
 * allocator locks, and a reader must not wait for all of them. */
uint64_t stats_refresh(void)
{
	static struct stats fresh; /* Guarded by refresh_lock. */
	static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
	mutex_lock(&refresh_lock);
	stats_snapshot(&fresh);
	mutex_lock(&stats_lock);
	last = fresh;
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

int stats_read(const char *name, uint64_t *value)
{
	if (name == NULL || value == NULL)
		return EINVAL;
	mutex_lock(&stats_lock);
	bool none = epoch == 0;
	mutex_unlock(&stats_lock);
	if (none)
		stats_refresh();
	int rc = 0;
	mutex_lock(&stats_lock);
	const struct field *f;
	if (strcmp(name, "epoch") == 0) {
		*value = epoch;
	} else if ((f = find(fields, sizeof(fields) / sizeof(fields[0]), name)) != NULL) {
		memcpy(value, (const char *)&last + f->offset, sizeof(*value));
	} else if (strncmp(name, "bins.", 5) == 0) {
		/* bins.<class>.<name>, the class in decimal. */
		const char *p = name + 5;
		unsigned c = 0;
		bool digits = *p >= '0' && *p <= '9';
		while (*p >= '0' && *p <= '9' && c < SC_NSMALL)
			c = c * 10 + (unsigned)(*p++ - '0');
		if (!digits || c >= SC_NSMALL || *p++ != '.' || (name[5] == '0' && name[6] != '.'))
			rc = ENOENT;
		else if (strcmp(p, "size") == 0)
			*value = sc_size[c];
		else if ((f = find(bin_fields, sizeof(bin_fields) / sizeof(bin_fields[0]), p)) !=
		         NULL)
			memcpy(value, (const char *)&last.bins[c] + f->offset, sizeof(*value));
		else
			rc = ENOENT;
	} else {
		rc = ENOENT;
	}
	mutex_unlock(&stats_lock);
	return rc;
}
