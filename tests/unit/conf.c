/* SPDX-License-Identifier: MIT */
/* The options parser: values, ranges, size suffixes, and one clear line on
 * stderr for each unknown option or bad value, which is then ignored; the
 * input escaped and cut in those lines, and only the first 16 of them. */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "control/conf.h"

static char errbuf[4096];

/* Runs conf_parse on s as from `source` (then conf_report_suppressed, with `report`) with
 * stderr captured into errbuf; returns the bad count. */
static int parse_from(const char *source, const char *s, int report)
{
	int fds[2];
	if (pipe(fds) != 0)
		abort();
	int saved = dup(2);
	dup2(fds[1], 2);
	int bad = conf_parse(source, s);
	if (report)
		conf_report_suppressed();
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], errbuf, sizeof(errbuf) - 1);
	errbuf[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	return bad;
}

static int parse(const char *s)
{
	return parse_from("MALLOC_CONF", s, 0);
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int main(void)
{
	TEST_CASE("valid")
	{
		conf_reset();
		CHECK(cairn_conf.tcache && cairn_conf.tcache_max == 65536 &&
		          cairn_conf.narenas == 0,
		      "defaults");

		CHECK(parse("narenas:3,tcache:false,tcache_max:4k,junk:alloc,zero:true") == 0,
		      "valid");
		CHECK(errbuf[0] == '\0', "no output for valid options: %s", errbuf);
		CHECK(cairn_conf.narenas == 3, "narenas %u", cairn_conf.narenas);
		CHECK(!cairn_conf.tcache, "tcache");
		CHECK(cairn_conf.tcache_max == 4096, "tcache_max %zu", cairn_conf.tcache_max);
		CHECK(cairn_conf.junk == JUNK_ALLOC, "junk %u", cairn_conf.junk);
		CHECK(cairn_conf.zero, "zero");

		CHECK(parse("junk:true") == 0 && cairn_conf.junk == JUNK_BOTH, "junk:true");
		CHECK(parse("junk:free") == 0 && cairn_conf.junk == JUNK_FREE, "junk:free");
		CHECK(parse("junk:false") == 0 && cairn_conf.junk == JUNK_NONE, "junk:false");
		CHECK(parse("abort_conf:1,confirm_conf:0") == 0 && cairn_conf.abort_conf &&
		          !cairn_conf.confirm_conf,
		      "0/1 booleans");
		CHECK(parse("") == 0 && parse(",,") == 0, "empty items");
	}

	TEST_CASE("invalid")
	{
		conf_reset();
		CHECK(parse("bogus:1") == 1, "unknown option counted");
		CHECK(lines(errbuf) == 1 && strncmp(errbuf, "cairn: MALLOC_CONF: ", 20) == 0 &&
		          strstr(errbuf, "\"bogus\"") != NULL,
		      "unknown option message: %s", errbuf);

		CHECK(parse("percpu_arena:percpu") == 1, "a jemalloc-only option counted");
		CHECK(lines(errbuf) == 1 &&
		          strstr(errbuf, "jemalloc option \"percpu_arena\" is not supported by "
		                         "cairn; ignored") != NULL,
		      "jemalloc-only option message: %s", errbuf);
		CHECK(parse("percpu_arenas:percpu") == 1 &&
		          strstr(errbuf, "unknown option") != NULL,
		      "a misspelt one is unknown: %s", errbuf);

		CHECK(parse("narenas:abc") == 1 && cairn_conf.narenas == 0, "bad number ignored");
		CHECK(lines(errbuf) == 1 && strstr(errbuf, "\"narenas\"") &&
		          strstr(errbuf, "\"abc\"") && strstr(errbuf, "[0, 1024]"),
		      "bad value message: %s", errbuf);
		CHECK(parse("narenas:1025") == 1 && cairn_conf.narenas == 0,
		      "out of range ignored");
		CHECK(parse("tcache_max:-5") == 1 && cairn_conf.tcache_max == 65536,
		      "negative size");
		CHECK(parse("tcache_max:65k") == 1, "size above the range");
		CHECK(parse("tcache:maybe") == 1 && cairn_conf.tcache, "bad boolean");
		CHECK(strstr(errbuf, "true or false") != NULL, "boolean hint: %s", errbuf);
		CHECK(parse("junk:sometimes") == 1, "bad junk");
		CHECK(parse("narenas") == 1, "missing value");
		CHECK(parse("narenas:99999999999999999999999") == 1, "overflow");
	}

	TEST_CASE("bad_among_good")
	{
		/* Bad items do not stop the good ones around them. */
		conf_reset();
		CHECK(parse("narenas:2,bogus:3,tcache:false") == 1, "mixed");
		CHECK(cairn_conf.narenas == 2 && !cairn_conf.tcache,
		      "good items applied around a bad one");
		CHECK(lines(errbuf) == 1, "one line per bad item: %s", errbuf);
	}

	TEST_CASE("escaped")
	{
		/* Names and values from either source are echoed escaped, cut after 64 bytes. */
		conf_reset();
		CHECK(parse_from("malloc_conf", "x\"\x1b[31m\n:1,tcache:\r\t\x80", 0) == 2,
		      "malloc_conf: two bad items");
		CHECK(
		    lines(errbuf) == 2 &&
		        strstr(errbuf,
		               "cairn: malloc_conf: unknown option \"x\\\"\\x1b[31m\\n\"") &&
		        strstr(errbuf, "cairn: malloc_conf: bad value \"\\r\\t\\x80\" for option"),
		    "malloc_conf: escaped: %s", errbuf);
		char longname[200];
		memset(longname, 'n', 100);
		strcpy(longname + 100, ":1");
		CHECK(parse(longname) == 1 && lines(errbuf) == 1, "long name");
		CHECK(strlen(errbuf) ==
		              strlen("cairn: MALLOC_CONF: unknown option \"\"; ignored\n") + 67 &&
		          strstr(errbuf, "nnnnnnnn...\"; ignored\n"),
		      "long name cut after 64 bytes: %s", errbuf);
	}

	TEST_CASE("message_cap")
	{
		/* Past 16 messages only a count, reported once, naming the source(s). */
		conf_reset();
		CHECK(parse("a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1,l:1,m:1,n:1") == 14 &&
		          lines(errbuf) == 14,
		      "14 messages: %s", errbuf);
		CHECK(parse_from("MALLOC_CONF", "o:1,p:1,q,r:1,tcache:x", 1) == 5 &&
		          lines(errbuf) == 3 && strstr(errbuf, "\"p\"") &&
		          !strstr(errbuf, "\"q\"") &&
		          strstr(errbuf, "cairn: MALLOC_CONF: 3 more errors not shown\n"),
		      "cap at 16, then a count: %s", errbuf);
		CHECK(parse_from("MALLOC_CONF", "s:1", 1) == 1 &&
		          strcmp(errbuf, "cairn: MALLOC_CONF: 1 more error not shown\n") == 0,
		      "the count starts again after it is reported: %s", errbuf);
		CHECK(parse_from("malloc_conf", "t:1", 0) == 1 && errbuf[0] == '\0' &&
		          parse_from("MALLOC_CONF", "u:1,v:1", 1) == 2 &&
		          strcmp(errbuf,
		                 "cairn: malloc_conf, MALLOC_CONF: 3 more errors not shown\n") == 0,
		      "suppressed from both sources: %s", errbuf);
		conf_reset();
		CHECK(parse_from("MALLOC_CONF", "w:1", 1) == 1 && lines(errbuf) == 1 &&
		          strstr(errbuf, "\"w\""),
		      "conf_reset starts the count again: %s", errbuf);
	}
	conf_reset();
	return CHECK_DONE();
}
