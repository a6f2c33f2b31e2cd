#!/bin/sh
# report_bench.sh [ITEMS] — (or ITEMS=N in the environment; `make
# bench-report ITEMS=1000000`) time the dashboard views and the quarterly
# report over a generated ledger (docs/report.md "Cost"): ITEMS action
# items (default 1,000,000) in ITEMS/25 postmortems over 5 platforms and
# 25 teams, opened over the last two years, with a history of about two
# events per item (created; closed done or won't do for ~60%, a moved due
# date for 20%, reopened for 2%), and a managed link on every second item.
# Generated with SQL generate_series (history rows written directly, as a
# backfill would), not with the importer.
#
# Prints, for each Grafana panel's SQL (examples/grafana/, macros expanded,
# every platform selected) and for `closeloop report` (all platforms, the
# last complete quarter, Markdown): the wall time, and for the panels
# PostgreSQL's own cost (EXPLAIN (ANALYZE, BUFFERS): execution time and
# shared buffers hit/read).  The report is run in every format cold
# (nothing stored: the quarters read from the rollups of sql/042, then
# stored) and warm (read from report_figures_store), each with its own CPU
# and peak RSS and PostgreSQL's CPU (the cluster's processes) measured
# apart; then the last quarter read from the rollups is compared with the
# spans' computation, and what keeping the rollups adds to writes through
# the triggers is timed (report_bench.py).  The spans and the rollups are
# rebuilt after the generation (timed: the migrations' backfill on an
# existing ledger does the same).  Uses a throwaway cluster on
# $BENCH_PGPORT.
set -eu
n=${1:-${ITEMS:-1000000}}
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$here/build/bench-report
port=${BENCH_PGPORT:-54394}
stop() { sh "$here/tests/pgtmp.sh" stop "$dir" >/dev/null 2>&1 || true; }
trap stop EXIT
stop
rm -rf "$dir"
dsn=$(sh "$here/tests/pgtmp.sh" start "$dir" "$port")
"$here/build/closeloop" migrate --dsn "$dsn" >/dev/null 2>&1
echo "report bench: generating $n action items with history ..."
echo "report bench: bulk path, not real use: the ledger is written by a few SQL statements"
echo "  (generate_series; history rows INSERTed directly with triggers off, as a backfill"
echo "  would), not one change at a time through action_item's trigger and the importer;"
echo "  the open-item and link tallies (sql/024), the item spans (sql/034) and the quarter"
echo "  rollups (sql/042) are then computed once by their rebuild functions instead of by"
echo "  their statement triggers"
t0=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -v n="$n" -d "$dsn" <<'EOF'
-- history is written directly (a backfill): no triggers while generating
SET session_replication_role = replica;
INSERT INTO person (handle, github_login, active)
  SELECT 'u' || g, 'u' || g || '-gh', true FROM generate_series(1, 500) g;
INSERT INTO platform (name, lead_handle) SELECT 'platform-' || g, 'u' || g FROM generate_series(1, 5) g;
INSERT INTO team (name, platform_id, connector, target)
  SELECT 'team-' || g, 1 + g % 5, 'gh', 'org/repo-' || g FROM generate_series(1, 25) g;
INSERT INTO postmortem (reference, title, platform_id, published_date)
  SELECT 'PM-' || g, 'incident ' || g, 1 + g % 5, current_date - (g % 730)
    FROM generate_series(1, greatest(:n / 25, 1)) g;
CREATE TEMP TABLE gen AS
  SELECT g AS id, 1 + (g % greatest(:n / 25, 1)) AS pm, 1 + g % 25 AS team,
         now() - make_interval(days => g % 730, secs => g % 86400) AS opened,
         CASE WHEN g % 7 = 0 THEN NULL ELSE 'u' || (g % 500) END AS owner,
         CASE WHEN g % 5 = 0 THEN NULL ELSE current_date - (g % 730) + 30 + (g % 90) END AS due,
         g % 10 < 6 AS closes, g % 10 = 0 AS wont, g % 5 = 1 AS moves, g % 50 = 3 AS reopens
    FROM generate_series(1, :n) g;
ALTER TABLE gen ADD COLUMN closed timestamptz;
UPDATE gen SET closed = opened + make_interval(days => 1 + id % 200, secs => id % 3600)
 WHERE closes AND opened + make_interval(days => 1 + id % 200) < now();
INSERT INTO action_item (id, postmortem_id, import_key, title, priority, owner, team_id, due_date,
                         state, closed_at, created_at, updated_at)
  SELECT id, pm, 'k' || id, 'action item ' || id, (ARRAY['P0','P1','P2','P3'])[1 + id % 4], owner,
         team, CASE WHEN moves THEN due + 30 ELSE due END,
         CASE WHEN closed IS NULL THEN (CASE WHEN id % 3 = 0 THEN 'in_progress' ELSE 'open' END)
              WHEN reopens THEN 'open' WHEN wont THEN 'wont_do' ELSE 'done' END,
         CASE WHEN closed IS NOT NULL AND NOT reopens THEN closed END, opened, opened
    FROM gen;
SELECT setval('action_item_id_seq', (SELECT max(id) FROM action_item));
INSERT INTO item_event (action_item_id, at, changed_at, field, old_value, new_value, source, detail)
  SELECT id, opened, opened, 'created', NULL, 'open', 'bench',
         jsonb_build_object('title', 'action item ' || id, 'owner', owner, 'team_id', team,
                            'due_date', due)
    FROM gen
  UNION ALL
  SELECT id, opened + interval '10 days', opened + interval '10 days', 'due_date', due::text,
         (due + 30)::text, 'bench', NULL
    FROM gen WHERE moves AND opened + interval '10 days' < now()
  UNION ALL
  SELECT id, closed, closed, 'state', 'open', CASE WHEN wont THEN 'wont_do' ELSE 'done' END, 'bench', NULL
    FROM gen WHERE closed IS NOT NULL
  UNION ALL
  SELECT id, closed + interval '3 days', closed + interval '3 days', 'state',
         CASE WHEN wont THEN 'wont_do' ELSE 'done' END, 'open', 'bench', NULL
    FROM gen WHERE closed IS NOT NULL AND reopens
  ORDER BY 3;
INSERT INTO external_link (action_item_id, connector, target, kind, state, remote_id, remote_key,
                           url, synced_version, item_version, remote_updated_at, error_count)
  SELECT id, 'gh', 'org/repo-' || team, 'managed', 'linked', id::text, 'org/repo#' || id,
         'https://github.com/org/repo/issues/' || id, 1, 1, now() - make_interval(days => id % 90), 0
    FROM gen WHERE id % 2 = 0;
SET session_replication_role = origin;
-- the dashboards' tallies (sql/024), counted once as after any backfill
-- written with triggers off
SELECT closeloop_open_tally_rebuild() AS open_items_counted, closeloop_link_tally_rebuild() AS links_counted;
-- and the point-in-time spans (sql/034), as the migration backfills them
\timing on
SELECT closeloop_item_span_rebuild() AS item_spans_written;
-- and the quarter rollups (sql/042), as the migration fills them
SELECT closeloop_report_rollup_rebuild() AS rollup_quarters_filled;
\timing off
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM action_item) AS items, (SELECT count(*) FROM item_event) AS events,
       (SELECT count(*) FROM external_link) AS links, (SELECT count(*) FROM item_span) AS item_spans,
       pg_size_pretty(pg_total_relation_size('item_span')) AS item_span_size,
       pg_size_pretty(pg_total_relation_size('item_event')) AS item_event_size;
SELECT (SELECT count(*) FROM report_rollup) AS rollup_rows,
       pg_size_pretty(pg_total_relation_size('report_rollup')) AS rollup_size,
       (SELECT count(*) FROM report_rollup_close) AS rollup_close_rows,
       pg_size_pretty(pg_total_relation_size('report_rollup_close')) AS rollup_close_size,
       pg_size_pretty(pg_relation_size('item_span_open_due_idx')) AS open_due_index_size,
       (SELECT round(avg(n)) FROM (SELECT count(*) n FROM report_rollup GROUP BY quarter) q)
         AS rollup_rows_per_quarter;
EOF
echo "report bench: generated in $(( $(date +%s) - t0 )) s"
python3 "$here/tests/bench/report_bench.py" "$dsn" "$here"
