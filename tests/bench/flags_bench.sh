#!/bin/sh
# flags_bench.sh [ITEMS] — time the flag computation (sql/012_watch.sql)
# over a generated ledger: ITEMS action items (default 100000) in
# ITEMS/5 postmortems, half of them open, a managed link on every second
# one, people with a tenth inactive.  Prints the wall time of
#   1. the first run (every flag raised),
#   2. a run with nothing to do (the daemon's steady state),
#   3. a run after 1% of the open items were edited,
#   4. arming the escalation ladder, and claiming 50 escalations.
# Each run is ONE statement (closeloop_flags_compute): set-based, no
# per-item round trip.  After each step the statements the server ran for
# it are counted with pg_stat_statements (track = all): the top-level ones
# the client sent and the ones run inside the functions, whatever the
# number of items (PostgreSQL's own foreign-key check of each inserted
# row counted apart), and the CPU time the server process running them
# used (utime + stime of /proc/PID/stat, read through pg_read_file: the
# cluster is the benchmark's own, its user a superuser).  Uses a throwaway
# cluster on $BENCH_PGPORT.
set -eu
n=${1:-100000}
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$here/build/bench-flags
port=${BENCH_PGPORT:-54393}
stop() { sh "$here/tests/pgtmp.sh" stop "$dir" >/dev/null 2>&1 || true; }
trap stop EXIT
stop
rm -rf "$dir"
dsn=$(PGTMP_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
	sh "$here/tests/pgtmp.sh" start "$dir" "$port")
"$here/build/closeloop" migrate --dsn "$dsn" >/dev/null 2>&1
tck=$(getconf CLK_TCK)
psql -X -q -v ON_ERROR_STOP=1 -v n="$n" -v tck="$tck" -d "$dsn" <<'EOF'
-- the report's derived tables (tallies, stores, spans, rollups: sql/019-042) are
-- kept by triggers on every write; the flags read none of them, and at
-- 100,000 items their upkeep made the generation take longer than 30
-- minutes on a loaded machine: off for the whole benchmark
DO $$ DECLARE t record; BEGIN
  FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
            WHERE NOT tgisinternal AND tgname ~ '(report_store|overdue_daily|tally|item_span|report_rollup)' LOOP
    EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', t.rel, t.tgname);
  END LOOP;
END $$;
INSERT INTO platform (name, lead_handle) VALUES ('p', 'u1');
INSERT INTO person (handle, github_login, active)
  SELECT 'u' || g, 'u' || g || '-gh', g % 10 <> 0 FROM generate_series(1, 500) g;
INSERT INTO team (name, platform_id, connector, target) VALUES ('t', 1, 'gh', 'a/b');
INSERT INTO postmortem (reference, title, platform_id, published_date)
  SELECT 'PM-' || g, 'pm ' || g, 1, current_date - (g % 400) FROM generate_series(1, :n / 5) g;
INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date, state, created_at)
  SELECT 1 + (g % (:n / 5 - :n / 100)), 'item ' || g, (ARRAY['P0','P1','P2','P3'])[1 + g % 4],
         CASE WHEN g % 7 = 0 THEN NULL ELSE 'u' || (g % 600) END, 1,
         CASE WHEN g % 5 = 0 THEN NULL ELSE current_date - 200 + (g % 400) END,
         (ARRAY['open','in_progress','done','wont_do'])[1 + g % 4],
         now() - make_interval(days => g % 400)
    FROM generate_series(1, :n) g;
INSERT INTO external_link (action_item_id, connector, target, state, remote_id, remote_key,
                           remote_updated_at, error_count)
  SELECT g, 'gh', 'a/b', CASE WHEN g % 49 = 0 THEN 'broken' ELSE 'linked' END, g::text,
         'a/b#' || g, now() - make_interval(days => g % 90), 0
    FROM generate_series(1, :n, 2) g;
ANALYZE;
CREATE EXTENSION pg_stat_statements;
-- the statements of the step just run (psql's own and this one left out)
-- (PostgreSQL checks a foreign key of each inserted row with a query of
-- its own, "... FOR KEY SHARE OF x": counted apart, no round trip)
PREPARE counted AS
  SELECT sum(calls) FILTER (WHERE toplevel) AS sent_by_the_client,
         coalesce(sum(calls) FILTER (WHERE NOT toplevel AND query NOT LIKE '%FOR KEY SHARE OF x'), 0)
           AS run_inside_the_functions,
         coalesce(sum(calls) FILTER (WHERE query LIKE '%FOR KEY SHARE OF x'), 0)
           AS foreign_key_checks
    FROM pg_stat_statements
   WHERE query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE 'EXECUTE counted%'
     AND query NOT ILIKE 'PREPARE counted%' AND query NOT ILIKE '%bench_cpu%'
     AND query NOT ILIKE '%pg_read_file%';
-- the CPU seconds this server process has used (fields 14 and 15 of
-- /proc/PID/stat, clock ticks; field 2, "(postgres)", holds no space)
SELECT set_config('bench.tck', :'tck', false) \gset
CREATE FUNCTION bench_cpu() RETURNS numeric LANGUAGE sql AS $$
  SELECT (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint)
         / current_setting('bench.tck')::numeric
    FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s $$;
SELECT bench_cpu() AS t0 \gset
SELECT pg_stat_statements_reset() \gset
\timing on
\echo 1. first run
SELECT sum(r_raised) AS raised, sum(r_cleared) AS cleared, sum(r_open) AS open
  FROM closeloop_flags_compute(NULL, '{}', 'bench');
\timing off
SELECT round(bench_cpu() - :t0, 2) AS postgres_cpu_s;
EXECUTE counted;
SELECT bench_cpu() AS t0 \gset
SELECT pg_stat_statements_reset() \gset
\timing on
\echo 2. nothing changed
SELECT sum(r_raised) AS raised, sum(r_cleared) AS cleared, sum(r_open) AS open
  FROM closeloop_flags_compute(NULL, '{}', 'bench');
\timing off
SELECT round(bench_cpu() - :t0, 2) AS postgres_cpu_s;
EXECUTE counted;
UPDATE action_item SET owner = 'u1', due_date = current_date + 10
 WHERE id IN (SELECT id FROM action_item WHERE state IN ('open', 'in_progress')
              ORDER BY id LIMIT (SELECT count(*) / 100 FROM action_item
                                  WHERE state IN ('open', 'in_progress')));
SELECT bench_cpu() AS t0 \gset
SELECT pg_stat_statements_reset() \gset
\timing on
\echo 3. after 1% of the open items were edited
SELECT sum(r_raised) AS raised, sum(r_cleared) AS cleared, sum(r_open) AS open
  FROM closeloop_flags_compute(NULL, '{}', 'bench');
\timing off
SELECT round(bench_cpu() - :t0, 2) AS postgres_cpu_s;
EXECUTE counted;
SELECT bench_cpu() AS t0 \gset
SELECT pg_stat_statements_reset() \gset
\timing on
\echo 4. arm the default ladder, claim 50
SELECT closeloop_escalation_arm(NULL,
  '[{"name":"overdue-30","flag":"overdue","days":30,"notify":"platform_lead"}]', 'bench') AS armed;
SELECT count(*) AS claimed FROM closeloop_escalation_claim(NULL, 'bench', 50, 600);
\timing off
SELECT round(bench_cpu() - :t0, 2) AS postgres_cpu_s;
EXECUTE counted;
EOF
