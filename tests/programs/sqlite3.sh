#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sqlite3.sh: the sqlite3 shell under cairn. A database of 200,000 rows is made with a recursive
# CTE, indexed, queried with aggregates, joins, window functions and sorts, updated, vacuumed
# and checked. SQLite allocates its page cache, statements and sorter memory through malloc
# (realloc-heavy), so the answers must be identical with and without cairn preloaded.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

check "cairn starts in sqlite3" require_cairn sqlite3 :memory: 'select 1;'
check "libcairn is mapped in sqlite3" maps_show_cairn sqlite3 :memory:

cat >"$work/queries.sql" <<'EOF'
PRAGMA journal_mode = OFF;
PRAGMA cache_size = -20000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 200000)
INSERT INTO t(id, grp, name, val, blob)
SELECT n, (n * 7919) % 1000,
       printf('name-%06d-%s', (n * 104729) % 200000, substr('abcdefghij', 1 + n % 10)),
       ((n * 2654435761) % 100000) / 100.0, zeroblob(n % 200)
FROM seq;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_val ON t(grp, val DESC);
SELECT count(*), sum(grp), round(sum(val), 2), sum(length(blob)) FROM t;
SELECT grp, count(*), round(avg(val), 4), min(name), max(name)
FROM t GROUP BY grp ORDER BY grp LIMIT 20;
SELECT name, val FROM t WHERE grp = 123 ORDER BY val DESC, id LIMIT 10;
SELECT count(DISTINCT name), count(DISTINCT substr(name, 1, 9)) FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 AND a.grp = b.grp % 1000
WHERE a.id % 50 = 0 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
SELECT id, grp, round(val, 2), rank() OVER (PARTITION BY grp ORDER BY val DESC, id) AS r
FROM t WHERE grp < 3 ORDER BY grp, r LIMIT 15;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY name DESC LIMIT 50);
CREATE TABLE agg AS SELECT grp, sum(val) AS s, group_concat(id) AS ids FROM t GROUP BY grp;
SELECT count(*), round(sum(s), 2), sum(length(ids)) FROM agg;
UPDATE t SET name = name || '-updated', blob = zeroblob(300) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)), sum(length(blob)) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT name FROM t ORDER BY name LIMIT 5;
SELECT grp, count(*) FROM t GROUP BY grp HAVING count(*) > 165 ORDER BY grp;
EOF

workload() {
	sqlite3 test.db <"$work/queries.sql"
}
run_twice workload
head -c 300 "$work/cairn.out"
echo
finish
