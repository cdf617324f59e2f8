/* SPDX-License-Identifier: MIT */
/* jemalloc's malloc_stats_print and malloc_message: the report of
 * control/stats_print.c, written through the caller's callback, else
 * through malloc_message if the program set it, else to stderr with
 * write(2). */
#include <string.h>

#include "api/init.h"
#include "control/stats_print.h"
#include "os/os.h"

#define EXPORT __attribute__((visibility("default")))

/* A program may point it at its own writer, as with jemalloc. */
EXPORT void (*malloc_message)(void *cbopaque, const char *s) = NULL;

static void write_stderr(void *opaque, const char *s)
{
	os_write_stderr(s, strlen(s));
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts)
{
	if (!ensure_init())
		return;
	if (write_cb == NULL)
		write_cb = malloc_message != NULL ? malloc_message : write_stderr;
	stats_print(write_cb, cbopaque, opts);
}
