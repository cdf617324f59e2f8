/* SPDX-License-Identifier: MIT */
/* jemalloc's mallctl tree, the names cairn answers so far: read and
 * written by name or by MIB with jemalloc's protocol and errors (ENOENT for
 * a name that is none, EINVAL for a wrong size or value, EPERM for writing
 * a node that is read only or reading one that is an action). README,
 * "mallctl", lists the names. */
#ifndef CAIRN_CONTROL_CTL_H
#define CAIRN_CONTROL_CTL_H

#include <stddef.h>

int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp);
int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen);

#endif
