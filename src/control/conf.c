/* SPDX-License-Identifier: MIT */
#include "control/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sizeclass_params.h"
#include "core/util.h"
#include "os/os.h"

struct conf cairn_conf;

/* The names of each enum option's values, in the order of their constants. */
#define CONF_NAME(constant, name) name,
#define CONF_ENUM(name, def, values, help)                                                         \
	static const char *const name##_names[] = {values(CONF_NAME)};
#include "control/options.def"
#undef CONF_NAME

_Static_assert(JUNK_BOTH == (JUNK_ALLOC | JUNK_FREE), "junk is two bits: alloc and free");

#define FIELD(f) offsetof(struct conf, f)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* CONF_UINT's read_type, unsigned or size_t, as a conf_type. */
#define TYPE_OF(read_type) TYPE_OF_##read_type
#define TYPE_OF_unsigned   CONF_TYPE_UNSIGNED
#define TYPE_OF_size_t     CONF_TYPE_SIZE

/* The options table, from options.def. */
const struct conf_option conf_options[] = {
#define CONF_BOOL(name, def, help)                                                                 \
	{#name, CONF_KIND_BOOL, CONF_TYPE_BOOL, FIELD(name), def, 0, 1, help, NULL},
#define CONF_UINT(name, read_type, def, min, max, help)                                            \
	{#name, CONF_KIND_UINT, TYPE_OF(read_type), FIELD(name), def, min, max, help, NULL},
#define CONF_SIZE(name, def, min, max, help)                                                       \
	{#name, CONF_KIND_SIZE, CONF_TYPE_SIZE, FIELD(name), def, min, max, help, NULL},
#define CONF_MS(name, def, help)                                                                   \
	{#name, CONF_KIND_MS, CONF_TYPE_SSIZE, FIELD(name), def, -1, INT64_MAX / 2, help, NULL},
#define CONF_I64(name, def, min, max, help)                                                        \
	{#name, CONF_KIND_I64, CONF_TYPE_SSIZE, FIELD(name), def, min, max, help, NULL},
#define CONF_STRING(name, size, def, help)                                                         \
	{#name, CONF_KIND_STRING, CONF_TYPE_STRING, FIELD(name), 0, 0, (size)-1, help, NULL, def},
#define CONF_ENUM(name, def, values, help)                                                         \
	{#name, CONF_KIND_ENUM, CONF_TYPE_STRING, FIELD(name), def, 0, COUNT(name##_names) - 1,    \
	 help,  name##_names},
#include "control/options.def"
};

const size_t conf_noptions = COUNT(conf_options);

#define NOPTIONS COUNT(conf_options)

static void store(const struct conf_option *o, int64_t v)
{
	char *field = (char *)&cairn_conf + o->offset;
	switch (o->kind) {
	case CONF_KIND_BOOL:
		*(bool *)field = v != 0;
		break;
	case CONF_KIND_UINT:
	case CONF_KIND_ENUM:
		*(unsigned *)field = (unsigned)v;
		break;
	case CONF_KIND_SIZE:
		*(size_t *)field = (size_t)v;
		break;
	case CONF_KIND_MS:
	case CONF_KIND_I64:
		*(int64_t *)field = v;
		break;
	case CONF_KIND_STRING:
		/* The default, or the field cleared for conf_parse to copy a
		 * value into. The whole field is cleared so that equal strings
		 * are equal fields. */
		memset(field, 0, (size_t)o->max + 1);
		if (v == 0 && o->str_def != NULL)
			memcpy(field, o->str_def, strlen(o->str_def));
		break;
	}
}

/* Messages about bad options: at most MESSAGES_MAX are printed per process, the rest
 * only counted, and conf_report_suppressed() prints how many. Of a name or value they
 * echo, at most ECHO_MAX bytes are shown, escaped, so each is one bounded line. */
#define MESSAGES_MAX 16
#define ECHO_MAX     64
#define ECHO_BUF     (4 * ECHO_MAX + sizeof("..."))

static unsigned messages_shown;
static uint64_t messages_suppressed;
static const char *suppressed_source; /* NULL once they come from both sources */

void conf_reset(void)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		store(&conf_options[i], conf_options[i].def);
	messages_shown = 0;
	messages_suppressed = 0;
}

static bool equals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static const struct conf_option *find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (equals(name, len, conf_options[i].name))
			return &conf_options[i];
	return NULL;
}

const struct conf_option *conf_find(const char *name)
{
	return find(name, strlen(name));
}

/* Parses a decimal value (with an optional k/m/g suffix for sizes). */
static bool parse_number(const char *s, size_t len, bool suffix, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (len == 0)
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return false;
	if (i < len) {
		unsigned shift;
		if (!suffix || i + 1 != len)
			return false;
		switch (s[i]) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return false;
		}
		if (v > (UINT64_MAX >> shift))
			return false;
		v <<= shift;
	}
	*out = v;
	return true;
}

static bool parse_value(const struct conf_option *o, const char *s, size_t len, int64_t *out)
{
	uint64_t v;
	switch (o->kind) {
	case CONF_KIND_BOOL:
		if (equals(s, len, "true") || equals(s, len, "1"))
			return *out = 1, true;
		if (equals(s, len, "false") || equals(s, len, "0"))
			return *out = 0, true;
		return false;
	case CONF_KIND_ENUM:
		for (int64_t i = 0; i <= o->max; i++)
			if (equals(s, len, o->names[i]))
				return *out = i, true;
		return false;
	case CONF_KIND_STRING:
		/* Printable, so that confirm_conf shows it as it is. */
		for (size_t i = 0; i < len; i++)
			if (s[i] <= ' ' || s[i] > '~')
				return false;
		return len <= (size_t)o->max;
	case CONF_KIND_MS:
	case CONF_KIND_I64:
		if (o->min < 0 && equals(s, len, "-1"))
			return *out = -1, true;
		/* fall through */
	case CONF_KIND_UINT:
	case CONF_KIND_SIZE:
		if (!parse_number(s, len, o->kind == CONF_KIND_SIZE || o->kind == CONF_KIND_I64,
		                  &v) ||
		    v > (uint64_t)o->max || (int64_t)v < o->min)
			return false;
		*out = (int64_t)v;
		return true;
	}
	return false;
}

/* Counts one bad option; returns whether its message may be printed. */
static bool may_report(const char *source)
{
	if (messages_shown < MESSAGES_MAX) {
		messages_shown++;
		return true;
	}
	if (messages_suppressed++ == 0)
		suppressed_source = source;
	else if (suppressed_source != NULL && strcmp(suppressed_source, source) != 0)
		suppressed_source = NULL;
	return false;
}

void conf_report_suppressed(void)
{
	char n[24];
	if (messages_suppressed == 0)
		return;
	n[fmt_u64(n, messages_suppressed)] = '\0';
	cairn_message(suppressed_source ? suppressed_source : CONF_SYMBOL_NAME ", " CONF_ENV_NAME,
	              ": ", n,
	              messages_suppressed == 1 ? " more error not shown" : " more errors not shown",
	              (const char *)NULL);
	messages_suppressed = 0;
}

/* Copies the first ECHO_MAX bytes of s[0, len) into dst (ECHO_BUF bytes) for a message:
 * printable ASCII as is but " and \ (\" and \\), \n \t \r, any other byte as \xNN, then
 * "..." if s is longer. */
static void echo(char *dst, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (size_t i = 0; i < len && i < ECHO_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\') {
			dst[n++] = (char)c;
			continue;
		}
		dst[n++] = '\\';
		if (c == '"' || c == '\\') {
			dst[n++] = (char)c;
		} else if (c == '\n') {
			dst[n++] = 'n';
		} else if (c == '\t') {
			dst[n++] = 't';
		} else if (c == '\r') {
			dst[n++] = 'r';
		} else {
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	if (len > ECHO_MAX) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

/* Appends the pieces (NULL-terminated) to buf, of capacity cap. */
static void concat(char *buf, size_t cap, const char *first, ...)
{
	size_t n = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *p = first; p != NULL; p = va_arg(ap, const char *)) {
		size_t l = strlen(p);
		if (l > cap - 1 - n)
			l = cap - 1 - n;
		memcpy(buf + n, p, l);
		n += l;
	}
	va_end(ap);
	buf[n] = '\0';
}

static void bad_value(const char *source, const struct conf_option *o, const char *v, size_t vlen)
{
	char value[ECHO_BUF], lo[24], hi[24], expected[160];
	echo(value, v, vlen);
	if (o->kind == CONF_KIND_BOOL) {
		concat(expected, sizeof(expected), "true or false", (const char *)NULL);
	} else if (o->kind == CONF_KIND_STRING) {
		hi[fmt_u64(hi, (uint64_t)o->max)] = '\0';
		concat(expected, sizeof(expected), "at most ", hi, " printable bytes",
		       (const char *)NULL);
	} else if (o->kind == CONF_KIND_ENUM) {
		concat(expected, sizeof(expected), "one of", (const char *)NULL);
		for (int64_t i = 0; i <= o->max; i++) {
			char sofar[160];
			concat(sofar, sizeof(sofar), expected, (const char *)NULL);
			concat(expected, sizeof(expected), sofar, " ", o->names[i],
			       (const char *)NULL);
		}
	} else {
		lo[fmt_u64(lo, (uint64_t)(o->min < 0 ? 0 : o->min))] = '\0';
		hi[fmt_u64(hi, (uint64_t)o->max)] = '\0';
		concat(expected, sizeof(expected),
		       o->min < 0 ? "-1 or an integer in [" : "an integer in [", lo, ", ", hi, "]",
		       (const char *)NULL);
	}
	cairn_message(source, ": bad value \"", value, "\" for option \"", o->name, "\" (expected ",
	              expected, "); ignored", (const char *)NULL);
}

int conf_parse(const char *source, const char *s)
{
	int bad = 0;
	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *colon = memchr(s, ':', len);
		if (len == 0) {
			/* tolerate empty items ("a:1,,b:2") */
		} else if (colon == NULL) {
			char item[ECHO_BUF];
			bad++;
			if (may_report(source)) {
				echo(item, s, len);
				cairn_message(source, ": option \"", item,
				              "\" has no value (name:value)", (const char *)NULL);
			}
		} else {
			size_t nlen = (size_t)(colon - s);
			const struct conf_option *o = find(s, nlen);
			const char *v = colon + 1;
			size_t vlen = len - nlen - 1;
			int64_t value;
			if (o == NULL) {
				char name[ECHO_BUF];
				bad++;
				if (may_report(source)) {
					echo(name, s, nlen);
					if (conf_jemalloc_option(s, nlen))
						cairn_message(
						    source, ": jemalloc option \"", name,
						    "\" is not supported by cairn; ignored",
						    (const char *)NULL);
					else
						cairn_message(source, ": unknown option \"", name,
						              "\"; ignored", (const char *)NULL);
				}
			} else if (!parse_value(o, v, vlen, &value)) {
				bad++;
				if (may_report(source))
					bad_value(source, o, v, vlen);
			} else if (o->kind == CONF_KIND_STRING) {
				char *field = (char *)&cairn_conf + o->offset;
				store(o, 1);
				memcpy(field, v, vlen);
			} else {
				store(o, value);
			}
		}
		s = end ? end + 1 : NULL;
	}
	return bad;
}

void conf_init(const char *compiled)
{
	conf_reset();
	int bad = conf_parse(CONF_SYMBOL_NAME, compiled);
	bad += conf_parse(CONF_ENV_NAME, os_getenv(CONF_ENV_NAME));
	conf_report_suppressed();
	if (bad > 0 && cairn_conf.abort_conf) {
		cairn_message("aborting on bad options (abort_conf:true)", (const char *)NULL);
		abort();
	}
}
