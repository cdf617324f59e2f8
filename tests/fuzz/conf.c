/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the MALLOC_CONF parser (src/control/conf.c), built with AddressSanitizer
 * and UndefinedBehaviorSanitizer; the parser never allocates, so it needs no cairn around it.
 * An input is one options string (up to its first NUL). Checks, on top of the sanitizers':
 * - every message is one line of at most 512 bytes (the options line of conf_print: 4096),
 *   printable ASCII but its newline, and there are at most 16 of them plus one that counts
 *   the rest: one for each bad option;
 * - every option holds a value in its range;
 * - the options in force, printed by conf_print, parse back without error to the same values;
 * - parsing the items one at a time gives the same values and the same count of bad ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The two functions of os_linux.c the parser and cairn_message use, here capturing what
 * would go to stderr. */
static char out[64 * 1024];
static size_t out_len;
static unsigned out_lines;

const char *os_getenv(const char *name)
{
	return NULL;
}

void os_write_stderr(const char *buf, size_t len)
{
	size_t max = strncmp(buf, "cairn: options: ", 16) == 0 ? 4096 : 512;
	if (len == 0 || len > max || buf[len - 1] != '\n') {
		fprintf(stderr, "message of %zu bytes, not one line: %.*s\n", len, (int)len, buf);
		abort();
	}
	for (size_t i = 0; i + 1 < len; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e) {
			fprintf(stderr, "byte 0x%02x at %zu of a message: %.*s\n",
			        (unsigned char)buf[i], i, (int)len, buf);
			abort();
		}
	if (out_len + len < sizeof(out)) {
		memcpy(out + out_len, buf, len);
		out_len += len;
		out[out_len] = '\0';
	}
	out_lines++;
}

static void reset_output(void)
{
	out_len = 0;
	out[0] = '\0';
	out_lines = 0;
}

#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "check failed: %s: ", #cond);                              \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Whether every option of the list has the same value in a and b. */
static int same(const struct conf *a, const struct conf *b)
{
	static const size_t size[] = {
	    [CONF_KIND_BOOL] = sizeof(bool),      [CONF_KIND_UINT] = sizeof(unsigned),
	    [CONF_KIND_SIZE] = sizeof(size_t),    [CONF_KIND_MS] = sizeof(int64_t),
	    [CONF_KIND_ENUM] = sizeof(unsigned),  [CONF_KIND_I64] = sizeof(int64_t),
	    [CONF_KIND_STRING] = CONF_STRING_MAX,
	};
	for (size_t i = 0; i < conf_noptions; i++) {
		const struct conf_option *o = &conf_options[i];
		if (memcmp((const char *)a + o->offset, (const char *)b + o->offset,
		           size[o->kind]) != 0)
			return 0;
	}
	return 1;
}

static char input[4096 + 1];
static char item[4096 + 1];
static char printed[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > sizeof(input) - 1)
		size = sizeof(input) - 1;
	memcpy(input, data, size);
	input[size] = '\0';

	conf_reset();
	reset_output();
	int bad = conf_parse("MALLOC_CONF", input);
	conf_report_suppressed();
	unsigned want = bad <= 16 ? (unsigned)bad : 17;
	REQUIRE(out_lines == want, "%d bad options, %u messages:\n%s", bad, out_lines, out);
	const struct conf c = cairn_conf;
	REQUIRE(c.narenas <= 1024, "narenas %u", c.narenas);
	REQUIRE(c.tcache_max <= 65536, "tcache_max %zu", c.tcache_max);
	REQUIRE(c.junk <= JUNK_BOTH, "junk %u", c.junk);
	REQUIRE(c.dirty_decay_ms >= -1 && c.muzzy_decay_ms >= -1, "decay %lld %lld",
	        (long long)c.dirty_decay_ms, (long long)c.muzzy_decay_ms);
	REQUIRE(c.max_background_threads >= 1 && c.max_background_threads <= 64,
	        "max_background_threads %u", c.max_background_threads);
	REQUIRE(c.thp <= THP_NEVER && c.metadata_thp <= METADATA_THP_ALWAYS, "thp %u %u", c.thp,
	        c.metadata_thp);

	/* What conf_print shows parses back to the same options. */
	reset_output();
	conf_print();
	const char *prefix = "cairn: options: ";
	REQUIRE(strncmp(out, prefix, strlen(prefix)) == 0 && out_lines == 1 &&
	            out[out_len - 1] == '\n',
	        "printed, not one options line: %s", out);
	size_t np = out_len - 1 - strlen(prefix);
	REQUIRE(np < sizeof(printed), "printed: %s", out);
	memcpy(printed, out + strlen(prefix), np);
	printed[np] = '\0';
	conf_reset();
	reset_output();
	int bad_back = conf_parse("MALLOC_CONF", printed);
	REQUIRE(bad_back == 0 && same(&cairn_conf, &c), "%s does not parse back (%d bad): %s",
	        printed, bad_back, out);

	/* One item at a time. */
	conf_reset();
	reset_output();
	int bad_items = 0;
	for (const char *s = input;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		memcpy(item, s, len);
		item[len] = '\0';
		bad_items += conf_parse("MALLOC_CONF", item);
		if (end == NULL)
			break;
		s = end + 1;
	}
	conf_report_suppressed();
	REQUIRE(bad_items == bad && same(&cairn_conf, &c),
	        "item by item: %d bad, not %d, or other values", bad_items, bad);
	return 0;
}
