/* SPDX-License-Identifier: MIT */
/* The mallctl tree's nodes, for the files that define its subtrees
 * (ctl_stats.c, ctl_arena.c, ctl_thread.c, ...); the walk and the root are
 * in ctl.c. Every name is a path of nodes: inner nodes have named
 * children, or numbered ones (an arena <i>, a size class <j>); leaves read
 * or write one value, or do one thing. A MIB is the same path as numbers:
 * a named child's place among its siblings, a numbered child's number. */
#ifndef CAIRN_CONTROL_CTL_TREE_H
#define CAIRN_CONTROL_CTL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* jemalloc's MALLCTL_ARENAS_ALL: arena.<i> for every arena. */
#define ARENAS_ALL 4096

/* A call's buffers, as mallctl got them. */
struct io {
	void *oldp;
	size_t *oldlenp;
	void *newp;
	size_t newlen;
};

enum value_type { V_NONE, V_BOOL, V_UNSIGNED, V_UINT32, V_SIZE, V_UINT64, V_SSIZE, V_STRING };

struct node;
/* A leaf: mib holds the whole path, so that numbered parts can be read. */
typedef int leaf_fn(const struct node *n, const size_t *mib, size_t miblen, struct io *io);

struct node {
	const char *name;       /* NULL: numbered children, see valid */
	const struct node *kid; /* the children, in order (NULL for a leaf) */
	size_t nkids;
	const struct node *link; /* a subtree defined in another file: walk it instead */
	leaf_fn *leaf;
	const char *arg;         /* a leaf's: the statistic, say */
	bool (*valid)(size_t i); /* a numbered child: the numbers it takes */
	bool dynamic_opt;        /* the opt node: its children are the options */
	/* A read_value leaf's type, or an RW leaf's (V_NONE: an action or
	 * write-only). */
	enum value_type type;
	uint64_t (*get)(const struct node *n, const size_t *mib);
};

/* Gives value (size bytes) out: jemalloc's protocol. With no place to
 * write, nothing is given; a place of another size gets what fits, and
 * EINVAL. */
int ctl_give(struct io *io, const void *value, size_t size) HIDDEN;
/* Whether the call writes (newp or newlen set) or reads (oldp or oldlenp
 * set). */
bool ctl_writes(const struct io *io) HIDDEN;
bool ctl_reads(const struct io *io) HIDDEN;
/* Takes the value written, which must be exactly size bytes (EINVAL
 * otherwise); 0 and *out untouched when nothing is written. */
int ctl_take(const struct io *io, void *out, size_t size) HIDDEN;
/* A read-only value: the node's getter gives it, read_value gives it out
 * in the node's type (EPERM for a write). Strings travel as their
 * address. */
int ctl_read_value(const struct node *n, const size_t *mib, size_t miblen, struct io *io) HIDDEN;
/* A statistic of the last snapshot (taken at the last write to epoch),
 * named by the node's arg. */
uint64_t ctl_get_stat(const struct node *n, const size_t *mib) HIDDEN;
uint64_t ctl_get_false(const struct node *n, const size_t *mib) HIDDEN;
uint64_t ctl_get_true(const struct node *n, const size_t *mib) HIDDEN;
uint64_t ctl_get_empty_string(const struct node *n, const size_t *mib) HIDDEN;

#define LEAF(nm, fn)                                                                               \
	{                                                                                          \
		.name = nm, .leaf = fn                                                             \
	}
#define VALUE(nm, t, getter)                                                                       \
	{                                                                                          \
		.name = nm, .leaf = ctl_read_value, .type = t, .get = getter                       \
	}
#define STAT(nm, t, stat)                                                                          \
	{                                                                                          \
		.name = nm, .leaf = ctl_read_value, .type = t, .get = ctl_get_stat, .arg = stat    \
	}
/* A leaf read and written: the type is what both take. */
#define RW(nm, fn, t)                                                                              \
	{                                                                                          \
		.name = nm, .leaf = fn, .type = t                                                  \
	}
#define INNER(nm, kids)                                                                            \
	{                                                                                          \
		.name = nm, .kid = kids, .nkids = sizeof(kids) / sizeof(kids[0])                   \
	}
#define NUMBERED(kids, how)                                                                        \
	{                                                                                          \
		.kid = kids, .nkids = sizeof(kids) / sizeof(kids[0]), .valid = how                 \
	}
#define LINK(nm, subtree)                                                                          \
	{                                                                                          \
		.name = nm, .link = &subtree                                                       \
	}

/* The subtrees under the root, one file each. */
extern const struct node ctl_stats_tree HIDDEN;  /* stats.*: ctl_stats.c */
extern const struct node ctl_arenas_tree HIDDEN; /* arenas.*: ctl_arena.c */
extern const struct node ctl_arena_tree HIDDEN;  /* arena.<i>.*: ctl_arena.c */
extern const struct node ctl_thread_tree HIDDEN; /* thread.*: ctl_thread.c */
extern const struct node ctl_prof_tree HIDDEN;   /* prof.*: ctl_prof.c */
extern const struct node ctl_tcache_tree HIDDEN; /* tcache.*: ctl_arena.c */

#endif
