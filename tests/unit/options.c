/* SPDX-License-Identifier: MIT */
/* The options list (src/control/options.def) and what is generated from it: every option of
 * conf_options[] reads back by name through conf_read, typed as jemalloc's opt.* names are,
 * with its default after conf_reset and with another value after conf_parse; it matches
 * its field of struct conf; conf_print shows it with that value; and conf_read answers
 * unknown names and wrong sizes as mallctl does. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "control/conf.h"

/* An option's value read through conf_read, widened to int64_t, or the index of an enum's
 * name in its names (-2 when it is not among them); *ok tells whether the read worked. */
static int64_t read_value(const struct conf_option *o, int *ok)
{
	union {
		bool b;
		unsigned u;
		size_t z;
		ssize_t s;
		const char *str;
		char bytes[16];
	} v;
	size_t len = conf_type_size(o->type);
	memset(&v, 0, sizeof(v));
	*ok = conf_read(o->name, &v, &len) == 0 && len == conf_type_size(o->type);
	switch (o->type) {
	case CONF_TYPE_BOOL:
		return v.b;
	case CONF_TYPE_UNSIGNED:
		return v.u;
	case CONF_TYPE_SIZE:
		return (int64_t)v.z;
	case CONF_TYPE_SSIZE:
		return v.s;
	case CONF_TYPE_STRING:
		if (o->kind == CONF_KIND_STRING)
			return v.str != NULL &&
			               strcmp(v.str, (const char *)&cairn_conf + o->offset) == 0
			           ? (int64_t)strlen(v.str)
			           : -2;
		for (int64_t i = 0; i <= o->max; i++)
			if (v.str != NULL && strcmp(v.str, o->names[i]) == 0)
				return i;
		return -2;
	}
	return -3;
}

/* The option's field in cairn_conf, widened. */
static int64_t field_value(const struct conf_option *o)
{
	const char *f = (const char *)&cairn_conf + o->offset;
	switch (o->kind) {
	case CONF_KIND_BOOL:
		return *(const bool *)f;
	case CONF_KIND_UINT:
	case CONF_KIND_ENUM:
		return *(const unsigned *)f;
	case CONF_KIND_SIZE:
		return (int64_t) * (const size_t *)f;
	case CONF_KIND_MS:
	case CONF_KIND_I64:
		return *(const int64_t *)f;
	case CONF_KIND_STRING:
		return (int64_t)strlen(f); /* a string of v letters: see spell */
	}
	return -3;
}

/* Writes the value v of option o as MALLOC_CONF spells it. */
static void spell(const struct conf_option *o, int64_t v, char *buf, size_t cap)
{
	if (o->kind == CONF_KIND_BOOL)
		snprintf(buf, cap, "%s", v ? "true" : "false");
	else if (o->kind == CONF_KIND_ENUM)
		snprintf(buf, cap, "%s", o->names[v]);
	else if (o->kind == CONF_KIND_STRING)
		snprintf(buf, cap, "%.*s", (int)v, "JgmbldaxehJgmbldaxeh");
	else
		snprintf(buf, cap, "%lld", (long long)v);
}

/* o's default as read_value gives it: a string's is its length. */
static int64_t def_value(const struct conf_option *o)
{
	if (o->kind == CONF_KIND_STRING)
		return o->str_def != NULL ? (int64_t)strlen(o->str_def) : 0;
	return o->def;
}

/* A value of o in its range other than its default. */
static int64_t other_value(const struct conf_option *o)
{
	if (o->kind == CONF_KIND_STRING)
		return def_value(o) == 15 || o->max < 15 ? o->max : 15;
	if (o->kind == CONF_KIND_BOOL)
		return !o->def;
	if (o->kind == CONF_KIND_ENUM)
		return (o->def + 1) % (o->max + 1);
	if (o->kind == CONF_KIND_MS || o->kind == CONF_KIND_I64)
		return o->def == -1 ? (o->max < 12345 ? o->max : 12345) : -1;
	return o->def < o->max ? o->max : o->min;
}

/* jemalloc's types for its opt.* names that cairn has. */
static const struct {
	const char *name;
	enum conf_type type;
} jemalloc_types[] = {
    {"narenas", CONF_TYPE_UNSIGNED},
    {"tcache", CONF_TYPE_BOOL},
    {"tcache_max", CONF_TYPE_SIZE},
    {"junk", CONF_TYPE_STRING},
    {"zero", CONF_TYPE_BOOL},
    {"abort_conf", CONF_TYPE_BOOL},
    {"confirm_conf", CONF_TYPE_BOOL},
    {"dirty_decay_ms", CONF_TYPE_SSIZE},
    {"muzzy_decay_ms", CONF_TYPE_SSIZE},
    {"retain", CONF_TYPE_BOOL},
    {"background_thread", CONF_TYPE_BOOL},
    {"max_background_threads", CONF_TYPE_SIZE},
    {"thp", CONF_TYPE_STRING},
    {"metadata_thp", CONF_TYPE_STRING},
    {"stats_print", CONF_TYPE_BOOL},
    {"stats_print_opts", CONF_TYPE_STRING},
    {"stats_interval", CONF_TYPE_SSIZE},
    {"stats_interval_opts", CONF_TYPE_STRING},
};

static char printed[4096];

/* conf_print's line, captured from stderr. */
static void capture_print(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		abort();
	int saved = dup(2);
	dup2(fds[1], 2);
	conf_print();
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], printed, sizeof(printed) - 1);
	printed[n > 0 ? n : 0] = '\0';
	close(fds[0]);
}

/* Whether conf_print's line holds "name:value" as one whole item. */
static int printed_has(const char *name, const char *value)
{
	char item[256];
	snprintf(item, sizeof(item), "%s:%s", name, value);
	size_t l = strlen(item);
	for (const char *p = strstr(printed, item); p != NULL; p = strstr(p + 1, item))
		if ((p[-1] == ' ' || p[-1] == ',') && (p[l] == ',' || p[l] == '\n'))
			return 1;
	return 0;
}

int main(void)
{
	char text[64], item[160];
	int ok;

	REQUIRE(conf_noptions >= 14, "%zu options", conf_noptions);

	TEST_CASE("table")
	{
		/* The table: unique names, fields inside struct conf and apart, sane ranges. */
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			CHECK(conf_find(o->name) == o, "%s: conf_find", o->name);
			CHECK(o->help != NULL && strlen(o->help) > 10, "%s: help text", o->name);
			CHECK(o->min <= o->def && o->def <= o->max,
			      "%s: default %lld outside [%lld, %lld]", o->name, (long long)o->def,
			      (long long)o->min, (long long)o->max);
			CHECK((o->kind == CONF_KIND_ENUM) == (o->names != NULL), "%s: names",
			      o->name);
			CHECK(o->offset < sizeof(struct conf), "%s: offset %zu", o->name,
			      o->offset);
			for (size_t j = 0; j < i; j++) {
				CHECK(strcmp(conf_options[j].name, o->name) != 0, "%s twice",
				      o->name);
				CHECK(conf_options[j].offset != o->offset,
				      "%s and %s share a field", conf_options[j].name, o->name);
			}
		}
	}

	TEST_CASE("jemalloc_types")
	{
		/* Each option is read with jemalloc's type for opt.<name>. */
		for (size_t i = 0; i < sizeof(jemalloc_types) / sizeof(jemalloc_types[0]); i++) {
			const struct conf_option *o = conf_find(jemalloc_types[i].name);
			CHECK(o != NULL && o->type == jemalloc_types[i].type,
			      "%s: type %d, jemalloc's %d", jemalloc_types[i].name,
			      o ? (int)o->type : -1, (int)jemalloc_types[i].type);
		}
	}

	TEST_CASE("defaults")
	{
		/* Defaults, read back by name and printed. */
		conf_reset();
		capture_print();
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			int64_t v = read_value(o, &ok);
			CHECK(ok && v == def_value(o), "%s: read %lld (ok %d), default %lld",
			      o->name, (long long)v, ok, (long long)def_value(o));
			CHECK(field_value(o) == def_value(o), "%s: field %lld, default %lld",
			      o->name, (long long)field_value(o), (long long)def_value(o));
			if (o->kind == CONF_KIND_STRING)
				snprintf(text, sizeof(text), "%s", o->str_def);
			else
				spell(o, def_value(o), text, sizeof(text));
			CHECK(printed_has(o->name, text), "%s:%s not printed: %s", o->name, text,
			      printed);
		}
		CHECK(cairn_conf.tcache && cairn_conf.tcache_max == 65536 &&
		          cairn_conf.narenas == 0 && cairn_conf.dirty_decay_ms == 10000 &&
		          cairn_conf.muzzy_decay_ms == 0 && cairn_conf.background_thread &&
		          cairn_conf.max_background_threads == 1 && cairn_conf.junk == JUNK_NONE &&
		          cairn_conf.thp == THP_DEFAULT &&
		          cairn_conf.metadata_thp == METADATA_THP_DISABLED,
		      "the defaults by field name");
	}

	TEST_CASE("one_at_a_time")
	{
		/* Another value, one option at a time: only that option changes. */
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			int64_t want = other_value(o);
			conf_reset();
			spell(o, want, text, sizeof(text));
			snprintf(item, sizeof(item), "%s:%s", o->name, text);
			CHECK(conf_parse("MALLOC_CONF", item) == 0, "%s does not parse", item);
			int64_t v = read_value(o, &ok);
			CHECK(ok && v == want, "%s: read %lld after %s", o->name, (long long)v,
			      item);
			CHECK(field_value(o) == want, "%s: field %lld after %s", o->name,
			      (long long)field_value(o), item);
			for (size_t j = 0; j < conf_noptions; j++)
				if (j != i)
					CHECK(read_value(&conf_options[j], &ok) ==
					              def_value(&conf_options[j]) &&
					          ok,
					      "%s changed by %s", conf_options[j].name, item);
		}
	}

	TEST_CASE("all_at_once")
	{
		/* Every option changed at once, then printed: the printout shows what is read. */
		conf_reset();
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			spell(o, other_value(o), text, sizeof(text));
			snprintf(item, sizeof(item), "%s:%s", o->name, text);
			CHECK(conf_parse("MALLOC_CONF", item) == 0, "%s does not parse", item);
		}
		capture_print();
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			int64_t v = read_value(o, &ok);
			CHECK(ok && v == other_value(o), "%s: read %lld", o->name, (long long)v);
			spell(o, v, text, sizeof(text));
			CHECK(printed_has(o->name, text), "%s:%s not printed: %s", o->name, text,
			      printed);
		}
	}

	TEST_CASE("enum_values_and_sizes")
	{
		/* Every value of every enum option, and the size suffixes. */
		for (size_t i = 0; i < conf_noptions; i++) {
			const struct conf_option *o = &conf_options[i];
			for (int64_t k = 0; o->kind == CONF_KIND_ENUM && k <= o->max; k++) {
				const char *s = NULL;
				size_t len = sizeof(s);
				snprintf(item, sizeof(item), "%s:%s", o->name, o->names[k]);
				CHECK(conf_parse("MALLOC_CONF", item) == 0 &&
				          conf_read(o->name, &s, &len) == 0 && s != NULL &&
				          strcmp(s, o->names[k]) == 0 && field_value(o) == k,
				      "%s reads %s", item, s ? s : "NULL");
			}
		}
		size_t z = 0, zlen = sizeof(z);
		CHECK(conf_parse("MALLOC_CONF", "tcache_max:4k") == 0 &&
		          conf_read("tcache_max", &z, &zlen) == 0 && z == 4096,
		      "tcache_max:4k reads %zu", z);
		ssize_t ms = 0;
		size_t mslen = sizeof(ms);
		CHECK(conf_parse("MALLOC_CONF", "dirty_decay_ms:-1") == 0 &&
		          conf_read("dirty_decay_ms", &ms, &mslen) == 0 && ms == -1,
		      "dirty_decay_ms:-1 reads %zd", ms);
	}

	TEST_CASE("read_errors")
	{
		/* mallctl's answers: unknown names, wrong sizes, no buffer. */
		conf_reset();
		unsigned u = 7;
		size_t ulen = sizeof(u);
		CHECK(conf_read("bogus", &u, &ulen) == ENOENT && u == 7, "unknown name");
		CHECK(conf_read("opt.narenas", &u, &ulen) == ENOENT,
		      "the opt. prefix is the caller's");
		CHECK(conf_read("", &u, &ulen) == ENOENT, "empty name");
		CHECK(conf_read("narena", &u, &ulen) == ENOENT &&
		          conf_read("narenasx", &u, &ulen) == ENOENT,
		      "prefixes and extensions of a name");
		CHECK(conf_read("narenas", NULL, &ulen) == 0 &&
		          conf_read("narenas", &u, NULL) == 0 && u == 7,
		      "no buffer: nothing stored");
		conf_parse("MALLOC_CONF", "narenas:258,max_background_threads:3");
		size_t big[2] = {0, 0}, biglen = sizeof(big);
		CHECK(conf_read("narenas", big, &biglen) == EINVAL && biglen == sizeof(unsigned) &&
		          (unsigned)big[0] == 258,
		      "larger buffer: EINVAL, the value's bytes, *len %zu", biglen);
		unsigned char byte = 0;
		size_t bytelen = 1;
		CHECK(conf_read("max_background_threads", &byte, &bytelen) == EINVAL &&
		          bytelen == 1 && byte == 3,
		      "smaller buffer: EINVAL, its first byte %u", byte);
		u = 0;
		ulen = sizeof(u);
		CHECK(conf_read("max_background_threads", &u, &ulen) == EINVAL,
		      "size_t read as unsigned");
	}
	conf_reset();
	return CHECK_DONE();
}
