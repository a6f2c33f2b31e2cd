-- 034_item_span.sql — the point in time read from per-item spans kept by a
-- trigger, instead of a replay of item_event at each instant
-- (docs/schema.md "Point in time", "Item spans"; figures in docs/report.md
-- "Cost").
--
-- closeloop_items_at(T) of migration 11 groups every item_event row with
-- changed_at < T: about 60 s at 1,000,000 items, and a cold report calls it
-- about ten times.  item_span holds, for every action item, one row per
-- span of time in which closeloop_items_at would return the same row for
-- it: between two consecutive distinct changed_at values of its history
-- events, (valid_from, valid_to], the row is closeloop_items_at's
-- evaluated on the events with changed_at <= valid_from.  That is the
-- same contract (for each field the latest event in ledger order, id,
-- among those with changed_at < T; a late change, dated before events the
-- ledger already had, is handled because the whole item is recomputed).
-- closeloop_items_at(T) becomes one scan of the spans covering T.

-- The migration-11 function under another name: the replay of item_event,
-- kept to check the spans against (tests/unit/test_report.c).
CREATE FUNCTION closeloop_items_at_replay(p_at timestamptz)
RETURNS TABLE (action_item_id bigint, postmortem_id bigint, title text, owner text,
               team_id bigint, due_date date, state text, opened_at timestamptz,
               closed_at timestamptz, close_event bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT g.action_item_id, i.postmortem_id,
           CASE WHEN g.t IS NOT NULL THEN g.t[1] ELSE g.d->>'title' END,
           nullif(CASE WHEN g.o IS NOT NULL THEN g.o[1] ELSE g.d->>'owner' END, ''),
           (CASE WHEN g.tm IS NOT NULL THEN g.tm[1] ELSE g.d->>'team_id' END)::bigint,
           (CASE WHEN g.du IS NOT NULL THEN g.du[1] ELSE g.d->>'due_date' END)::date,
           coalesce(g.s[1], g.s0),
           g.opened_at,
           CASE WHEN coalesce(g.s[1], g.s0) IN ('done', 'wont_do')
                THEN coalesce(g.cl_at[1], g.opened_at) END,
           CASE WHEN coalesce(g.s[1], g.s0) IN ('done', 'wont_do') THEN g.cl_id[1] END
      FROM (SELECT e.action_item_id,
                   min(e.changed_at) FILTER (WHERE e.field = 'created') AS opened_at,
                   min(e.new_value) FILTER (WHERE e.field = 'created') AS s0,
                   (array_agg(e.detail ORDER BY e.id) FILTER (WHERE e.field = 'created'))[1] AS d,
                   array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'title') AS t,
                   array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'owner') AS o,
                   array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'team_id') AS tm,
                   array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'due_date') AS du,
                   array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'state') AS s,
                   array_agg(e.id ORDER BY e.id DESC)
                       FILTER (WHERE e.field = 'state' AND e.new_value IN ('done', 'wont_do')
                               AND coalesce(e.old_value, '') NOT IN ('done', 'wont_do')) AS cl_id,
                   array_agg(e.changed_at ORDER BY e.id DESC)
                       FILTER (WHERE e.field = 'state' AND e.new_value IN ('done', 'wont_do')
                               AND coalesce(e.old_value, '') NOT IN ('done', 'wont_do')) AS cl_at
              FROM item_event e
             WHERE e.changed_at < p_at
               AND e.field IN ('created', 'title', 'owner', 'team_id', 'due_date', 'state')
             GROUP BY e.action_item_id) g
      JOIN action_item i ON i.id = g.action_item_id
     WHERE g.opened_at IS NOT NULL
$$;

-- One row per action item and span: closeloop_items_at(T)'s row for the
-- item (but postmortem_id, today's, read from action_item) for every T
-- with valid_from < T <= valid_to.  valid_to is 'infinity' for the span
-- still current.  due_at_close is closeloop_due_at_event(item,
-- close_event) when the item is closed in the span, else NULL.
CREATE TABLE item_span (
    action_item_id bigint NOT NULL,
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz NOT NULL,
    title          text,
    owner          text,
    team_id        bigint,
    due_date       date,
    state          text NOT NULL,
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    close_event    bigint,
    due_at_close   date,
    PRIMARY KEY (action_item_id, valid_from)
);

-- The spans of the items p_ids, from item_event.  Plain SQL (not
-- SECURITY DEFINER) so that the trigger below gets it inlined and planned
-- once per session.  due_at_close: the latest due_date event in ledger
-- order before the closing one, else the due date the item was created
-- with (closeloop_due_at_event's rule).
CREATE FUNCTION closeloop_item_spans(p_ids bigint[])
RETURNS SETOF item_span
LANGUAGE sql STABLE AS $$
    WITH ev AS (
        SELECT e.id, e.action_item_id, e.changed_at, e.field, e.old_value, e.new_value, e.detail
          FROM item_event e
         WHERE e.action_item_id = ANY (p_ids)
           AND e.field IN ('created', 'title', 'owner', 'team_id', 'due_date', 'state')
    ), c0 AS (
        SELECT DISTINCT ON (ev.action_item_id) ev.action_item_id, ev.detail->>'due_date' AS due0
          FROM ev WHERE ev.field = 'created' ORDER BY ev.action_item_id, ev.id
    ), k AS (
        SELECT DISTINCT ev.action_item_id, ev.changed_at AS t FROM ev
    ), g AS (
        SELECT k.action_item_id, k.t,
               min(e.changed_at) FILTER (WHERE e.field = 'created') AS opened_at,
               min(e.new_value) FILTER (WHERE e.field = 'created') AS s0,
               (array_agg(e.detail ORDER BY e.id) FILTER (WHERE e.field = 'created'))[1] AS d,
               array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'title') AS ti,
               array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'owner') AS o,
               array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'team_id') AS tm,
               array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'due_date') AS du,
               array_agg(e.new_value ORDER BY e.id DESC) FILTER (WHERE e.field = 'state') AS s,
               array_agg(e.id ORDER BY e.id DESC)
                   FILTER (WHERE e.field = 'state' AND e.new_value IN ('done', 'wont_do')
                           AND coalesce(e.old_value, '') NOT IN ('done', 'wont_do')) AS cl_id,
               array_agg(e.changed_at ORDER BY e.id DESC)
                   FILTER (WHERE e.field = 'state' AND e.new_value IN ('done', 'wont_do')
                           AND coalesce(e.old_value, '') NOT IN ('done', 'wont_do')) AS cl_at
          FROM k JOIN ev e ON e.action_item_id = k.action_item_id AND e.changed_at <= k.t
         GROUP BY k.action_item_id, k.t
    ), r AS (
        SELECT g.action_item_id, g.t AS valid_from,
               coalesce(lead(g.t) OVER (PARTITION BY g.action_item_id ORDER BY g.t),
                        'infinity') AS valid_to,
               CASE WHEN g.ti IS NOT NULL THEN g.ti[1] ELSE g.d->>'title' END AS title,
               nullif(CASE WHEN g.o IS NOT NULL THEN g.o[1] ELSE g.d->>'owner' END, '') AS owner,
               (CASE WHEN g.tm IS NOT NULL THEN g.tm[1] ELSE g.d->>'team_id' END)::bigint AS team_id,
               (CASE WHEN g.du IS NOT NULL THEN g.du[1] ELSE g.d->>'due_date' END)::date AS due_date,
               coalesce(g.s[1], g.s0) AS state,
               g.opened_at,
               CASE WHEN coalesce(g.s[1], g.s0) IN ('done', 'wont_do')
                    THEN coalesce(g.cl_at[1], g.opened_at) END AS closed_at,
               CASE WHEN coalesce(g.s[1], g.s0) IN ('done', 'wont_do') THEN g.cl_id[1] END AS close_event,
               coalesce(g.s[1], g.s0) IN ('done', 'wont_do') AS closed
          FROM g
    )
    SELECT r.action_item_id, r.valid_from, r.valid_to, r.title, r.owner, r.team_id, r.due_date,
           r.state, r.opened_at, r.closed_at, r.close_event,
           CASE WHEN r.closed
                THEN (CASE WHEN dm.found THEN dm.v ELSE c0.due0 END)::date END
      FROM r
      LEFT JOIN c0 ON c0.action_item_id = r.action_item_id
      LEFT JOIN LATERAL (SELECT true AS found, e.new_value AS v FROM item_event e
                          WHERE r.closed AND e.action_item_id = r.action_item_id
                            AND e.field = 'due_date' AND e.id < r.close_event
                          ORDER BY e.id DESC LIMIT 1) dm ON true
     WHERE r.opened_at IS NOT NULL
$$;

-- Every item's spans again, 20,000 items at a time (the migration's
-- backfill, and after history written with triggers off, as
-- tests/bench/report_bench.sh does); returns the spans written.
CREATE FUNCTION closeloop_item_span_rebuild()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_last bigint := 0;
    n bigint := 0;
    m bigint;
BEGIN
    LOCK TABLE item_span IN EXCLUSIVE MODE;
    TRUNCATE item_span;
    LOOP
        SELECT array_agg(id ORDER BY id) INTO v_ids
          FROM (SELECT id FROM action_item WHERE id > v_last ORDER BY id LIMIT 20000) a;
        EXIT WHEN v_ids IS NULL;
        INSERT INTO item_span SELECT * FROM closeloop_item_spans(v_ids);
        GET DIAGNOSTICS m = ROW_COUNT;
        n := n + m;
        v_last := v_ids[array_upper(v_ids, 1)];
    END LOOP;
    RETURN n;
END $$;

-- New history rows: the items they belong to are recomputed whole (a late
-- change can split or merge any of an item's spans).  The items' rows are
-- locked first so that two transactions writing history of one item
-- compute its spans one after the other, the second from the first's
-- committed events (ledger writers hold these locks already: history is
-- written by action_item's own trigger).
CREATE FUNCTION closeloop_item_span_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT action_item_id ORDER BY action_item_id) INTO v_ids
      FROM new_events
     WHERE field IN ('created', 'title', 'owner', 'team_id', 'due_date', 'state');
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM action_item WHERE id = ANY (v_ids) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM item_span WHERE action_item_id = ANY (v_ids);
    INSERT INTO item_span SELECT * FROM closeloop_item_spans(v_ids);
    RETURN NULL;
END $$;
CREATE TRIGGER item_event_item_span AFTER INSERT ON item_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    EXECUTE FUNCTION closeloop_item_span_event();

-- The spans covering p_at: closeloop_items_at's columns, then
-- due_at_close.  Plain SQL, not SECURITY DEFINER, so that PostgreSQL
-- inlines it into the report's functions below (hash joins planned with
-- real row estimates, no 1,000,000-row function result materialised);
-- not granted to closeloop_reader, which calls closeloop_items_at.
CREATE FUNCTION closeloop_spans_at(p_at timestamptz)
RETURNS TABLE (action_item_id bigint, postmortem_id bigint, title text, owner text,
               team_id bigint, due_date date, state text, opened_at timestamptz,
               closed_at timestamptz, close_event bigint, due_at_close date)
LANGUAGE sql STABLE AS $$
    SELECT s.action_item_id, i.postmortem_id, s.title, s.owner, s.team_id, s.due_date, s.state,
           s.opened_at, s.closed_at, s.close_event, s.due_at_close
      FROM item_span s JOIN action_item i ON i.id = s.action_item_id
     WHERE s.valid_from < p_at AND s.valid_to >= p_at
$$;

-- closeloop_items_at: same columns, same rows, read from the spans.
CREATE OR REPLACE FUNCTION closeloop_items_at(p_at timestamptz)
RETURNS TABLE (action_item_id bigint, postmortem_id bigint, title text, owner text,
               team_id bigint, due_date date, state text, opened_at timestamptz,
               closed_at timestamptz, close_event bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT s.action_item_id, s.postmortem_id, s.title, s.owner, s.team_id, s.due_date, s.state,
           s.opened_at, s.closed_at, s.close_event
      FROM closeloop_spans_at(p_at) s
$$;

-- The report's functions of migration 8, reading the spans instead of
-- closeloop_items_at (and the due date in force at closing from
-- item_span.due_at_close instead of closeloop_due_at_event per item);
-- otherwise the same text, the same results (test_spans_equal_replay).
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
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB' AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) AS qs,
               closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    ), e AS (
        SELECT q.*, s.action_item_id, s.postmortem_id, s.title, s.owner, s.team_id, s.due_date,
               s.state, s.opened_at, s.closed_at, s.close_event, s.due_at_close AS due_closing
          FROM q, closeloop_spans_at(q.qe) s
    ), b AS (
        SELECT s.action_item_id, s.state FROM q, closeloop_spans_at(q.qs) s
    ), reopened AS (
        SELECT DISTINCT ev.action_item_id FROM q, item_event ev
         WHERE ev.field = 'state' AND ev.changed_at >= q.qs AND ev.changed_at < q.qe
           AND ev.old_value IN ('done', 'wont_do') AND ev.new_value IN ('open', 'in_progress')
    ), esc AS (
        SELECT x.* FROM q, closeloop_escalations_in(q.qs, q.qe) x
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
     ORDER BY grouping(pf, tm) DESC, pf, tm
$$;

CREATE OR REPLACE FUNCTION closeloop_report_overdue(p_quarter text, p_platform text DEFAULT NULL,
                                         p_team text DEFAULT NULL, p_limit int DEFAULT 10)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB' AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    )
    SELECT o.platform, o.team, o.action_item_id, o.postmortem, o.title, o.owner, o.due_date,
           o.days_overdue, l.ticket_key, l.ticket_url
      FROM (
    SELECT coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
           e.action_item_id, pm.reference AS postmortem, e.title, e.owner, e.due_date,
           ((q.qe AT TIME ZONE 'UTC')::date - e.due_date)::int AS days_overdue,
           row_number() OVER (PARTITION BY pl.name ORDER BY e.due_date, e.action_item_id) AS n
      FROM q, closeloop_spans_at(q.qe) e
      JOIN postmortem pm ON pm.id = e.postmortem_id
      LEFT JOIN team t ON t.id = e.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
     WHERE e.state NOT IN ('done', 'wont_do') AND e.due_date < (q.qe AT TIME ZONE 'UTC')::date
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)) o
      LEFT JOIN LATERAL (SELECT el.remote_key AS ticket_key, el.url AS ticket_url FROM external_link el
                          WHERE el.action_item_id = o.action_item_id AND el.url IS NOT NULL
                          ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) l ON true
     WHERE o.n <= p_limit
     ORDER BY o.platform, o.due_date, o.action_item_id
$$;

CREATE OR REPLACE FUNCTION closeloop_report_postmortems(p_quarter text, p_platform text DEFAULT NULL,
                                             p_team text DEFAULT NULL)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB' AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) AS qs,
               closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    ), e AS (
        SELECT i.* FROM q, closeloop_spans_at(q.qe) i
    )
    SELECT coalesce(pl.name, '(no platform)'), pm.reference, pm.title, pm.published_date,
           count(e.action_item_id),
           count(e.action_item_id) FILTER (WHERE e.state IN ('done', 'wont_do'))
      FROM q, postmortem pm
      LEFT JOIN team pt ON pt.id = pm.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(pm.platform_id, pt.platform_id)
      LEFT JOIN e ON e.postmortem_id = pm.id
      LEFT JOIN team t ON t.id = e.team_id
     WHERE pm.published_date >= (q.qs AT TIME ZONE 'UTC')::date
       AND pm.published_date < (q.qe AT TIME ZONE 'UTC')::date
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)
     GROUP BY pl.name, pm.id
     ORDER BY pm.published_date, pm.reference
$$;

-- The ledger's history so far (at 1,000,000 items: see docs/report.md).
SELECT closeloop_item_span_rebuild();
ANALYZE item_span;

REVOKE EXECUTE ON FUNCTION closeloop_items_at_replay(timestamptz), closeloop_item_spans(bigint[]),
       closeloop_spans_at(timestamptz), closeloop_item_span_rebuild() FROM PUBLIC;
