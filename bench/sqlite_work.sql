-- SPDX-License-Identifier: MIT
-- sqlite_work.sql: a real program, SQLite 3 (the sqlite3 shell), on an
-- in-memory database.
--
-- Pattern modelled: an embedded database doing a typical batch job --
-- bulk insert through a recursive CTE, two index builds, a GROUP BY
-- aggregate, an UPDATE that grows rows, a DELETE, a self-join, an ORDER BY
-- that needs a temporary sort. SQLite allocates everything through malloc
-- (page cache pages of about 4 KiB, b-tree cursors, parsed statements,
-- VDBE programs, sorter buffers, strings), from a few bytes to a few MiB,
-- with lifetimes from one statement to the whole run: the mixed heap of
-- a real C program, not a synthetic distribution. Run as
--     sqlite3 :memory: '.read bench/sqlite_work.sql'
-- and timed as a whole command (start-up and exit included) by run.py.
-- Every result is checked against the values it must have; the last lines
-- report errors= and the shell's own VmRSS and AnonHugePages (read from
-- /proc/<sqlite3's pid> by a shell command it starts).
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t SELECT x, (x * 7919) % 100003, x % 97,
       printf('item-%08d-%s', (x * 31337) % 1000003,
              substr('abcdefghijklmnopqrstuvwxyz0123456789', 1 + x % 17, 5 + x % 19)),
       (x % 1000) / 7.0 FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
CREATE TEMP TABLE r(key TEXT, v TEXT);
INSERT INTO r SELECT 'agg', printf('%.3f', sum(s)) FROM
    (SELECT grp, count(*) n, sum(val) s, avg(length(name)) l FROM t GROUP BY grp);
UPDATE t SET val = val * 2, name = name || '-updated' WHERE k % 5 = 0;
DELETE FROM t WHERE k % 11 = 3;
INSERT INTO r SELECT 'join', count(*) FROM t a JOIN t b ON a.k = b.k + 1 WHERE a.grp < 20;
INSERT INTO r SELECT 'top', group_concat(id) FROM
    (SELECT id FROM t ORDER BY name DESC, id LIMIT 5);
INSERT INTO r SELECT 'rows', count(*) FROM t;
INSERT INTO r SELECT 'checksum', sum(k) FROM t;
INSERT INTO r SELECT 'lensum', sum(length(name)) FROM t;
SELECT 'rows=' || (SELECT v FROM r WHERE key = 'rows')
    || ' join=' || (SELECT v FROM r WHERE key = 'join')
    || ' lensum=' || (SELECT v FROM r WHERE key = 'lensum')
    || ' errors=' || (
       (SELECT v != '21407142.857' FROM r WHERE key = 'agg')
     + (SELECT v != '151836' FROM r WHERE key = 'join')
     + (SELECT v != '197052,182309,167566,152823,123337' FROM r WHERE key = 'top')
     + (SELECT v != '272728' FROM r WHERE key = 'rows')
     + (SELECT v != '13636731699' FROM r WHERE key = 'checksum')
     + (SELECT v != '8063638' FROM r WHERE key = 'lensum'));
.system grep -h -e ^VmRSS: -e ^AnonHugePages: /proc/$PPID/status /proc/$PPID/smaps_rollup
