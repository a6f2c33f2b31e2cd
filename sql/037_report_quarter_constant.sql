-- 037_report_quarter_constant.sql — the report's three functions planned
-- with the quarter's bounds as constants (docs/report.md "Cost",
-- docs/schema.md "Item spans").
--
-- Migration 34's closeloop_report_figures, _overdue and _postmortems are
-- SQL functions that cannot be inlined (SECURITY DEFINER, SET): PostgreSQL
-- 15 plans their statements once per call with the arguments as unknown
-- parameters, and the bounds came from a CTE joined to the spans, so the
-- planner saw "the spans covering some instant" with a default estimate
-- and chose nested loops: 914,814 index probes into action_item and into
-- item_span per quarter at 1,000,000 items.  Here each is PL/pgSQL: the
-- bounds are computed first into variables, and the statement (the same
-- text otherwise) is planned at every call with their values
-- (plan_cache_mode = force_custom_plan), so the spans covering the
-- quarter's end are estimated from item_span's statistics and joined by
-- hash.  The start-of-quarter states (b) read item_span alone
-- (closeloop_states_at): b is left-joined to the items existing at the
-- end, so the join with action_item there dropped nothing.  Same rows,
-- same figures (test_spans_equal_replay compares these functions with
-- migration 11's replay).

-- The state of every item at p_at (closeloop_spans_at's action_item_id
-- and state, without the join to action_item: rows of items deleted since
-- may remain).  Plain SQL for inlining, like closeloop_spans_at; not
-- granted to closeloop_reader.
CREATE FUNCTION closeloop_states_at(p_at timestamptz)
RETURNS TABLE (action_item_id bigint, state text)
LANGUAGE sql STABLE AS $$
    SELECT s.action_item_id, s.state FROM item_span s
     WHERE s.valid_from < p_at AND s.valid_to >= p_at
$$;
REVOKE EXECUTE ON FUNCTION closeloop_states_at(timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION closeloop_report_figures(p_quarter text, p_platform text DEFAULT NULL,
                                         p_team text DEFAULT NULL)
RETURNS TABLE (quarter text, level text, platform text, team text,
               opened bigint, closed_done bigint, closed_wont_do bigint, in_play bigint,
               closure_rate numeric, closed_on_time bigint, closed_late bigint,
               closed_undated bigint, median_days_to_close numeric, p90_days_to_close numeric,
               open_end bigint, open_age_0_30 bigint, open_age_31_90 bigint,
               open_age_91_180 bigint, open_age_over_180 bigint, overdue_end bigint,
               needs_decision bigint, ownerless bigint, undated bigint, escalations bigint,
               postmortems_published bigint, postmortem_items bigint,
               postmortem_items_closed bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    v_qs timestamptz := closeloop_quarter_start(p_quarter);
    v_qe timestamptz := closeloop_quarter_start(p_quarter) + interval '3 months';
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT v_qs AS qs, v_qe AS qe, s.action_item_id, s.postmortem_id, s.title, s.owner,
               s.team_id, s.due_date, s.state, s.opened_at, s.closed_at, s.close_event,
               s.due_at_close AS due_closing
          FROM closeloop_spans_at(v_qe) s
    ), b AS (
        SELECT s.action_item_id, s.state FROM closeloop_states_at(v_qs) s
    ), reopened AS (
        SELECT DISTINCT ev.action_item_id FROM item_event ev
         WHERE ev.field = 'state' AND ev.changed_at >= v_qs AND ev.changed_at < v_qe
           AND ev.old_value IN ('done', 'wont_do') AND ev.new_value IN ('open', 'in_progress')
    ), esc AS (
        SELECT x.* FROM closeloop_escalations_in(v_qs, v_qe) x
    ), x AS (
        SELECT e.*, coalesce(pl.name, '(no platform)') AS pf, coalesce(t.name, '(no team)') AS tm,
               (b.action_item_id IS NOT NULL AND b.state NOT IN ('done', 'wont_do')) AS open_at_start,
               e.opened_at >= e.qs AS opened_in,
               coalesce(e.closed_at >= e.qs, false) AS closed_in,
               e.state NOT IN ('done', 'wont_do') AS open_at_end,
               floor(extract(epoch FROM e.qe - e.opened_at) / 86400) AS age_days,
               extract(epoch FROM e.closed_at - e.opened_at) / 86400 AS days_to_close,
               CASE WHEN e.closed_at >= e.qs
                    THEN e.due_closing END AS due_at_close,
               (e.closed_at AT TIME ZONE 'UTC')::date AS closed_day,
               (e.qe AT TIME ZONE 'UTC')::date AS end_day,
               pm.published_date >= (e.qs AT TIME ZONE 'UTC')::date
                 AND pm.published_date < (e.qe AT TIME ZONE 'UTC')::date AS pm_in,
               r.action_item_id IS NOT NULL AS reopened_in,
               coalesce(esc.escalations, 0) AS esc_n
          FROM e
          JOIN postmortem pm ON pm.id = e.postmortem_id
          LEFT JOIN b ON b.action_item_id = e.action_item_id
          LEFT JOIN team t ON t.id = e.team_id
          LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
          LEFT JOIN reopened r ON r.action_item_id = e.action_item_id
          LEFT JOIN esc ON esc.action_item_id = e.action_item_id
         WHERE (p_platform IS NULL OR pl.name = p_platform)
           AND (p_team IS NULL OR t.name = p_team)
    )
    SELECT p_quarter,
           CASE grouping(pf, tm) WHEN 0 THEN 'team' WHEN 1 THEN 'platform' ELSE 'all' END,
           CASE WHEN grouping(pf) = 0 THEN pf END, CASE WHEN grouping(tm) = 0 THEN tm END,
           count(*) FILTER (WHERE opened_in),
           count(*) FILTER (WHERE closed_in AND state = 'done'),
           count(*) FILTER (WHERE closed_in AND state = 'wont_do'),
           count(*) FILTER (WHERE open_at_start OR opened_in OR reopened_in),
           round(count(*) FILTER (WHERE closed_in)::numeric
                 / nullif(count(*) FILTER (WHERE open_at_start OR opened_in OR reopened_in), 0), 4),
           count(*) FILTER (WHERE closed_in AND due_at_close IS NOT NULL AND closed_day <= due_at_close),
           count(*) FILTER (WHERE closed_in AND due_at_close IS NOT NULL AND closed_day > due_at_close),
           count(*) FILTER (WHERE closed_in AND due_at_close IS NULL),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY days_to_close)
                  FILTER (WHERE closed_in))::numeric, 1),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY days_to_close)
                  FILTER (WHERE closed_in))::numeric, 1),
           count(*) FILTER (WHERE open_at_end),
           count(*) FILTER (WHERE open_at_end AND age_days <= 30),
           count(*) FILTER (WHERE open_at_end AND age_days > 30 AND age_days <= 90),
           count(*) FILTER (WHERE open_at_end AND age_days > 90 AND age_days <= 180),
           count(*) FILTER (WHERE open_at_end AND age_days > 180),
           count(*) FILTER (WHERE open_at_end AND due_date < end_day),
           count(*) FILTER (WHERE open_at_end AND age_days > 180),
           count(*) FILTER (WHERE open_at_end AND owner IS NULL),
           count(*) FILTER (WHERE open_at_end AND due_date IS NULL),
           CASE WHEN closeloop_escalation_missing() IS NULL THEN sum(esc_n)::bigint END,
           count(DISTINCT postmortem_id) FILTER (WHERE pm_in),
           count(*) FILTER (WHERE pm_in),
           count(*) FILTER (WHERE pm_in AND NOT open_at_end)
      FROM x
     GROUP BY GROUPING SETS ((pf, tm), (pf), ())
     ORDER BY grouping(pf, tm) DESC, pf, tm;
END $$;

CREATE OR REPLACE FUNCTION closeloop_report_overdue(p_quarter text, p_platform text DEFAULT NULL,
                                         p_team text DEFAULT NULL, p_limit int DEFAULT 10)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    v_qe timestamptz := closeloop_quarter_start(p_quarter) + interval '3 months';
    v_end_day date := ((closeloop_quarter_start(p_quarter) + interval '3 months') AT TIME ZONE 'UTC')::date;
BEGIN
    RETURN QUERY
    SELECT o.platform, o.team, o.action_item_id, o.postmortem, o.title, o.owner, o.due_date,
           o.days_overdue, l.ticket_key, l.ticket_url
      FROM (
    SELECT coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
           e.action_item_id, pm.reference AS postmortem, e.title, e.owner, e.due_date,
           (v_end_day - e.due_date)::int AS days_overdue,
           row_number() OVER (PARTITION BY pl.name ORDER BY e.due_date, e.action_item_id) AS n
      FROM closeloop_spans_at(v_qe) e
      JOIN postmortem pm ON pm.id = e.postmortem_id
      LEFT JOIN team t ON t.id = e.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
     WHERE e.state NOT IN ('done', 'wont_do') AND e.due_date < v_end_day
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)) o
      LEFT JOIN LATERAL (SELECT el.remote_key AS ticket_key, el.url AS ticket_url FROM external_link el
                          WHERE el.action_item_id = o.action_item_id AND el.url IS NOT NULL
                          ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) l ON true
     WHERE o.n <= p_limit
     ORDER BY o.platform, o.due_date, o.action_item_id;
END $$;

CREATE OR REPLACE FUNCTION closeloop_report_postmortems(p_quarter text, p_platform text DEFAULT NULL,
                                             p_team text DEFAULT NULL)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    v_qe timestamptz := closeloop_quarter_start(p_quarter) + interval '3 months';
    v_start_day date := (closeloop_quarter_start(p_quarter) AT TIME ZONE 'UTC')::date;
    v_end_day date := ((closeloop_quarter_start(p_quarter) + interval '3 months') AT TIME ZONE 'UTC')::date;
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT i.* FROM closeloop_spans_at(v_qe) i
    )
    SELECT coalesce(pl.name, '(no platform)'), pm.reference, pm.title, pm.published_date,
           count(e.action_item_id),
           count(e.action_item_id) FILTER (WHERE e.state IN ('done', 'wont_do'))
      FROM postmortem pm
      LEFT JOIN team pt ON pt.id = pm.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(pm.platform_id, pt.platform_id)
      LEFT JOIN e ON e.postmortem_id = pm.id
      LEFT JOIN team t ON t.id = e.team_id
     WHERE pm.published_date >= v_start_day
       AND pm.published_date < v_end_day
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)
     GROUP BY pl.name, pm.id
     ORDER BY pm.published_date, pm.reference;
END $$;
