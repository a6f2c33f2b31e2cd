-- 038_closure_by_quarter_store.sql — v_closure_by_quarter reads the stored
-- figures in its own statement (docs/schema.md "v_closure_by_quarter",
-- docs/report.md "Cost").
--
-- Since migration 19 the view called closeloop_report_figures_v (PL/pgSQL)
-- once per quarter; each call looked its key up and returned the stored
-- rows through RETURN QUERY, statements PostgreSQL prepares again in each
-- new connection (a Grafana query is one), and the quarter panels took
-- 92-113 ms at 1,000,000 items under load.  Now the stored rows are read
-- by the view's own plan (two index look-ups per quarter); only a quarter
-- with no stored figures (nothing filled yet, or dropped by a late change)
-- still goes through closeloop_report_figures_v, which computes it.  Same
-- columns, same rows: the key is the one closeloop_report_figures_v looks
-- up (the current quarter's snapshot included).
CREATE OR REPLACE VIEW v_closure_by_quarter AS
WITH qs AS (
    SELECT closeloop_quarter_of(g) AS quarter
      FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event
                                                   WHERE field = 'created')
                                                 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                           now(), interval '3 months') AS g
), k AS (
    SELECT qs.quarter, (SELECT k.id FROM report_store_key k
                         WHERE k.kind = 'figures' AND k.quarter = qs.quarter
                           AND k.f_platform = '' AND k.f_team = '' AND k.f_limit = 0) AS key_id
      FROM qs
)
SELECT closeloop_quarter_start(k.quarter) AS quarter_start, f.*
  FROM k, LATERAL (
    SELECT s.quarter, s.level, s.platform, s.team, s.opened, s.closed_done, s.closed_wont_do,
           s.in_play, s.closure_rate, s.closed_on_time, s.closed_late, s.closed_undated,
           s.median_days_to_close, s.p90_days_to_close, s.open_end, s.open_age_0_30,
           s.open_age_31_90, s.open_age_91_180, s.open_age_over_180, s.overdue_end,
           s.needs_decision, s.ownerless, s.undated, s.escalations, s.postmortems_published,
           s.postmortem_items, s.postmortem_items_closed
      FROM report_figures_store s
     WHERE s.key_id = k.key_id
    UNION ALL
    SELECT v.* FROM closeloop_report_figures_v(k.quarter) v
     WHERE k.key_id IS NULL) f;
