-- 042_report_rollup.sql — per-quarter rollups of the report's figures,
-- kept up to date by the span trigger, so that a quarter's report reads a
-- few thousand stored rows instead of every item existing at its end
-- (docs/report.md "Cost", docs/schema.md "Quarter rollups").
--
-- Since migration 34 a quarter's figures join the ~900,000 spans covering
-- its end (1,000,000 items) with those covering its start: 6.4 s of
-- PostgreSQL CPU per quarter, four quarters per report.  Each item
-- contributes to a quarter's figures through what closeloop_spans_at and
-- closeloop_states_at say of it at the quarter's end and start, the
-- reopening events dated in the quarter and its postmortem; every figure
-- but the percentiles, the distinct postmortems and the escalations is a
-- sum of these contributions per (team at the end, postmortem's platform).
-- So:
--
--   report_rollup        per quarter, team_id at the end, the postmortem's
--                        platform_id, and (for items of postmortems
--                        published in the quarter) postmortem_id: the
--                        items existing at the end and each counted
--                        figure; names are joined when read, so renames
--                        and a team moved to another platform need no
--                        upkeep;
--   report_rollup_close  per quarter, the items closed in it with their
--                        days to close (the median and p90 need every
--                        value: ~75,000 rows a quarter at 1,000,000 items);
--   report_rollup_quarter
--                        the quarters kept (filled by
--                        closeloop_report_rollup_fill; any other quarter is
--                        computed from the spans as before).
--
-- The span trigger of migration 34 recomputes an item's spans whole on
-- new history; it now also computes the item's contributions to the
-- kept quarters ending after the earliest new change, before and after,
-- and adds the difference: a change dated now touches the current
-- quarter's rows only, a late change dated in an old quarter the quarters
-- whose figures it changes (a difference of zero writes nothing).  A
-- postmortem whose platform or published date changes, and an item moved
-- to another postmortem, are handled the same way by statement triggers
-- with transition tables.  An action item with history is never deleted
-- (item_event rows cannot be deleted, migration 1's rule, and they
-- reference the item), so no trigger is needed for that.
--
-- Escalations are counted when read (the escalations sent in the quarter,
-- each item's team at the end by item_span's key), as is the overdue list:
-- the oldest items overdue at the quarter's end per platform, walked in
-- due-date order on a partial index of open spans and stopped when every
-- platform has its rows (the rollup says how many each has).
--
-- Same figures, same rows: test_report's test_rollup_equals_spans compares
-- every figure and list of nine quarters with the spans' computation on a
-- random history full of late changes, and test_rollup_late_change checks
-- that a late change rewrites only the touched quarter's rows.

-- ---- the stored rows ----

CREATE TABLE report_rollup_quarter (
    quarter   text PRIMARY KEY,
    filled_at timestamptz NOT NULL DEFAULT now()
);

-- team_id, pm_platform_id: 0 for none; pm_id: the postmortem when it was
-- published in the quarter, else 0.  items: the items existing at the
-- quarter's end in this group (a row at 0 is deleted).
CREATE TABLE report_rollup (
    quarter                 text NOT NULL,
    team_id                 bigint NOT NULL,
    pm_platform_id          bigint NOT NULL,
    pm_id                   bigint NOT NULL,
    items                   bigint NOT NULL,
    opened                  bigint NOT NULL,
    closed_done             bigint NOT NULL,
    closed_wont_do          bigint NOT NULL,
    in_play                 bigint NOT NULL,
    closed_on_time          bigint NOT NULL,
    closed_late             bigint NOT NULL,
    closed_undated          bigint NOT NULL,
    open_end                bigint NOT NULL,
    open_age_0_30           bigint NOT NULL,
    open_age_31_90          bigint NOT NULL,
    open_age_91_180         bigint NOT NULL,
    open_age_over_180       bigint NOT NULL,
    overdue_end             bigint NOT NULL,
    ownerless               bigint NOT NULL,
    undated                 bigint NOT NULL,
    postmortem_items        bigint NOT NULL,
    postmortem_items_closed bigint NOT NULL,
    PRIMARY KEY (quarter, team_id, pm_platform_id, pm_id)
);
CREATE INDEX report_rollup_empty_idx ON report_rollup (quarter) WHERE items = 0;

CREATE TABLE report_rollup_close (
    quarter        text NOT NULL,
    action_item_id bigint NOT NULL,
    team_id        bigint NOT NULL,
    pm_platform_id bigint NOT NULL,
    days_to_close  double precision NOT NULL,
    PRIMARY KEY (quarter, action_item_id)
);

-- The oldest-overdue list: open spans in due-date order.
CREATE INDEX item_span_open_due_idx ON item_span (due_date, action_item_id)
    INCLUDE (valid_from, valid_to)
    WHERE state NOT IN ('done', 'wont_do') AND due_date IS NOT NULL;

-- One item's contribution to one quarter (0 or 1 in each count).
CREATE TYPE report_rollup_item AS (
    quarter text, action_item_id bigint, team_id bigint, pm_platform_id bigint, pm_id bigint,
    opened int, closed_done int, closed_wont_do int, in_play int, closed_on_time int,
    closed_late int, closed_undated int, open_end int, open_age_0_30 int, open_age_31_90 int,
    open_age_91_180 int, open_age_over_180 int, overdue_end int, ownerless int, undated int,
    postmortem_items int, postmortem_items_closed int, days_to_close double precision);

-- The contributions of the items p_ids (those still in action_item) to
-- the quarters p_quarters ('YYYYQn'), one row per item and quarter at
-- whose end the item exists; the same definitions, text for text, as
-- closeloop_report_figures of migration 37.  p_skip: item_event ids to
-- leave out of the reopenings (the events a statement is adding, when
-- the contributions before it are asked for).  p_pms: the postmortem of
-- each item (parallel to p_ids; NULL: action_item's); p_pm_ids,
-- p_pm_platforms, p_pm_published: platform and published date to take
-- for those postmortems instead of postmortem's (the values before an
-- update).  Plain SQL, inlined into its callers; every look-up is by an
-- item's key (the lateral subqueries are kept from being flattened, so a
-- generic plan of a trigger's statement never scans a table): one pass
-- over the item's spans, and per quarter at whose end it exists one
-- look-up of the span at the quarter's start and of its reopenings.
CREATE FUNCTION closeloop_rollup_items(p_ids bigint[], p_quarters text[],
                                       p_skip bigint[] DEFAULT '{}', p_pms bigint[] DEFAULT NULL,
                                       p_pm_ids bigint[] DEFAULT '{}',
                                       p_pm_platforms bigint[] DEFAULT '{}',
                                       p_pm_published date[] DEFAULT '{}')
RETURNS SETOF report_rollup_item LANGUAGE sql STABLE AS $$
    WITH q AS (
        SELECT g.quarter, closeloop_quarter_start(g.quarter) AS qs,
               closeloop_quarter_start(g.quarter) + interval '3 months' AS qe
          FROM unnest(p_quarters) AS g(quarter)
    ), it AS (
        SELECT u.id, coalesce(u.pm, i.postmortem_id) AS pm_id
          FROM unnest(p_ids, p_pms) AS u(id, pm)
         CROSS JOIN LATERAL (SELECT a.postmortem_id FROM action_item a WHERE a.id = u.id OFFSET 0) i
    ), y AS (
        SELECT q.quarter, q.qs, q.qe, it.id, it.pm_id, e.team_id, e.state, e.owner, e.due_date,
               e.opened_at, e.closed_at, e.due_at_close,
               (SELECT b.state FROM item_span b
                 WHERE b.action_item_id = it.id AND b.valid_from < q.qs AND b.valid_to >= q.qs
                 LIMIT 1) AS b_state,
               EXISTS (SELECT 1 FROM (SELECT * FROM item_event i WHERE i.action_item_id = it.id
                                        OFFSET 0) ev
                        WHERE ev.field = 'state' AND ev.changed_at >= q.qs AND ev.changed_at < q.qe
                          AND ev.old_value IN ('done', 'wont_do')
                          AND ev.new_value IN ('open', 'in_progress')
                          AND ev.id <> ALL (p_skip)) AS reopened_in,
               CASE WHEN array_position(p_pm_ids, pm.id) IS NOT NULL
                    THEN p_pm_platforms[array_position(p_pm_ids, pm.id)] ELSE pm.platform_id END
                 AS platform_id,
               CASE WHEN array_position(p_pm_ids, pm.id) IS NOT NULL
                    THEN p_pm_published[array_position(p_pm_ids, pm.id)] ELSE pm.published_date END
                 AS published_date
          FROM it
         CROSS JOIN LATERAL (SELECT p.id, p.platform_id, p.published_date FROM postmortem p
                              WHERE p.id = it.pm_id OFFSET 0) pm
         CROSS JOIN LATERAL (SELECT s.* FROM item_span s WHERE s.action_item_id = it.id OFFSET 0) e
          JOIN q ON e.valid_from < q.qe AND e.valid_to >= q.qe
    ), x AS (
        SELECT y.quarter, y.id, y.team_id, y.platform_id, y.pm_id, y.state, y.owner, y.due_date,
               y.reopened_in,
               (y.b_state IS NOT NULL AND y.b_state NOT IN ('done', 'wont_do')) AS open_at_start,
               y.opened_at >= y.qs AS opened_in,
               coalesce(y.closed_at >= y.qs, false) AS closed_in,
               y.state NOT IN ('done', 'wont_do') AS open_at_end,
               floor(extract(epoch FROM y.qe - y.opened_at) / 86400) AS age_days,
               extract(epoch FROM y.closed_at - y.opened_at) / 86400 AS days_to_close,
               CASE WHEN y.closed_at >= y.qs THEN y.due_at_close END AS due_at_close,
               (y.closed_at AT TIME ZONE 'UTC')::date AS closed_day,
               (y.qe AT TIME ZONE 'UTC')::date AS end_day,
               coalesce(y.published_date >= (y.qs AT TIME ZONE 'UTC')::date
                        AND y.published_date < (y.qe AT TIME ZONE 'UTC')::date, false) AS pm_in
          FROM y
    )
    SELECT x.quarter, x.id, x.team_id, x.platform_id, CASE WHEN x.pm_in THEN x.pm_id ELSE 0 END,
           x.opened_in::int,
           (x.closed_in AND x.state = 'done')::int,
           (x.closed_in AND x.state = 'wont_do')::int,
           (x.open_at_start OR x.opened_in OR x.reopened_in)::int,
           (x.closed_in AND x.due_at_close IS NOT NULL AND x.closed_day <= x.due_at_close)::int,
           (x.closed_in AND x.due_at_close IS NOT NULL AND x.closed_day > x.due_at_close)::int,
           (x.closed_in AND x.due_at_close IS NULL)::int,
           x.open_at_end::int,
           (x.open_at_end AND x.age_days <= 30)::int,
           (x.open_at_end AND x.age_days > 30 AND x.age_days <= 90)::int,
           (x.open_at_end AND x.age_days > 90 AND x.age_days <= 180)::int,
           (x.open_at_end AND x.age_days > 180)::int,
           coalesce(x.open_at_end AND x.due_date < x.end_day, false)::int,
           (x.open_at_end AND x.owner IS NULL)::int,
           (x.open_at_end AND x.due_date IS NULL)::int,
           x.pm_in::int,
           (x.pm_in AND NOT x.open_at_end)::int,
           CASE WHEN x.closed_in THEN x.days_to_close::double precision END
      FROM x
$$;

-- closeloop_rollup_items as an array, its statement planned once per
-- session for any items (a generic plan: all look-ups by key); a custom
-- plan, PostgreSQL's choice for it otherwise, was planned again at every
-- call, about 9 ms of each one-item history statement.
CREATE FUNCTION closeloop_report_rollup_of(p_ids bigint[], p_quarters text[],
                                           p_skip bigint[] DEFAULT '{}', p_pms bigint[] DEFAULT NULL,
                                           p_pm_ids bigint[] DEFAULT '{}',
                                           p_pm_platforms bigint[] DEFAULT '{}',
                                           p_pm_published date[] DEFAULT '{}')
RETURNS report_rollup_item[] LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN ARRAY(SELECT x FROM closeloop_rollup_items(p_ids, p_quarters, p_skip, p_pms, p_pm_ids,
                                                      p_pm_platforms, p_pm_published) x);
END $$;

-- Add p_new and take away p_old (contributions from closeloop_rollup_items
-- after and before a change): the group rows by their difference (rows
-- whose difference is zero are not written; rows left with no item are
-- deleted) and the closures that differ.  Rows in key order, so that two
-- writers lock them in the same order.
CREATE FUNCTION closeloop_report_rollup_apply(p_old report_rollup_item[], p_new report_rollup_item[])
RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO report_rollup AS r
    SELECT d.* FROM (
        SELECT c.quarter, coalesce(c.team_id, 0) AS team_id, coalesce(c.pm_platform_id, 0) AS pm_platform_id,
               c.pm_id, sum(c.s) AS items, sum(c.s * c.opened) AS opened,
               sum(c.s * c.closed_done) AS closed_done, sum(c.s * c.closed_wont_do) AS closed_wont_do,
               sum(c.s * c.in_play) AS in_play, sum(c.s * c.closed_on_time) AS closed_on_time,
               sum(c.s * c.closed_late) AS closed_late, sum(c.s * c.closed_undated) AS closed_undated,
               sum(c.s * c.open_end) AS open_end, sum(c.s * c.open_age_0_30) AS open_age_0_30,
               sum(c.s * c.open_age_31_90) AS open_age_31_90,
               sum(c.s * c.open_age_91_180) AS open_age_91_180,
               sum(c.s * c.open_age_over_180) AS open_age_over_180,
               sum(c.s * c.overdue_end) AS overdue_end, sum(c.s * c.ownerless) AS ownerless,
               sum(c.s * c.undated) AS undated, sum(c.s * c.postmortem_items) AS postmortem_items,
               sum(c.s * c.postmortem_items_closed) AS postmortem_items_closed
          FROM (SELECT o.*, -1 AS s FROM unnest(p_old) o
                UNION ALL SELECT n.*, 1 FROM unnest(p_new) n) c
         GROUP BY 1, 2, 3, 4) d
     WHERE (d.items, d.opened, d.closed_done, d.closed_wont_do, d.in_play, d.closed_on_time,
            d.closed_late, d.closed_undated, d.open_end, d.open_age_0_30, d.open_age_31_90,
            d.open_age_91_180, d.open_age_over_180, d.overdue_end, d.ownerless, d.undated,
            d.postmortem_items, d.postmortem_items_closed)
           <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (quarter, team_id, pm_platform_id, pm_id) DO UPDATE SET
        items = r.items + excluded.items, opened = r.opened + excluded.opened,
        closed_done = r.closed_done + excluded.closed_done,
        closed_wont_do = r.closed_wont_do + excluded.closed_wont_do,
        in_play = r.in_play + excluded.in_play,
        closed_on_time = r.closed_on_time + excluded.closed_on_time,
        closed_late = r.closed_late + excluded.closed_late,
        closed_undated = r.closed_undated + excluded.closed_undated,
        open_end = r.open_end + excluded.open_end,
        open_age_0_30 = r.open_age_0_30 + excluded.open_age_0_30,
        open_age_31_90 = r.open_age_31_90 + excluded.open_age_31_90,
        open_age_91_180 = r.open_age_91_180 + excluded.open_age_91_180,
        open_age_over_180 = r.open_age_over_180 + excluded.open_age_over_180,
        overdue_end = r.overdue_end + excluded.overdue_end,
        ownerless = r.ownerless + excluded.ownerless, undated = r.undated + excluded.undated,
        postmortem_items = r.postmortem_items + excluded.postmortem_items,
        postmortem_items_closed = r.postmortem_items_closed + excluded.postmortem_items_closed;
    DELETE FROM report_rollup WHERE items = 0;
    DELETE FROM report_rollup_close c USING (
        SELECT o.quarter, o.action_item_id, coalesce(o.team_id, 0) AS team_id,
               coalesce(o.pm_platform_id, 0) AS pm_platform_id, o.days_to_close
          FROM unnest(p_old) o WHERE o.days_to_close IS NOT NULL
        EXCEPT
        SELECT n.quarter, n.action_item_id, coalesce(n.team_id, 0), coalesce(n.pm_platform_id, 0),
               n.days_to_close
          FROM unnest(p_new) n WHERE n.days_to_close IS NOT NULL) g
     WHERE c.quarter = g.quarter AND c.action_item_id = g.action_item_id;
    INSERT INTO report_rollup_close
    SELECT g.* FROM (
        SELECT n.quarter, n.action_item_id, coalesce(n.team_id, 0) AS team_id,
               coalesce(n.pm_platform_id, 0) AS pm_platform_id, n.days_to_close
          FROM unnest(p_new) n WHERE n.days_to_close IS NOT NULL
        EXCEPT
        SELECT o.quarter, o.action_item_id, coalesce(o.team_id, 0), coalesce(o.pm_platform_id, 0),
               o.days_to_close
          FROM unnest(p_old) o WHERE o.days_to_close IS NOT NULL) g
     ORDER BY g.quarter, g.action_item_id
    ON CONFLICT (quarter, action_item_id) DO UPDATE SET
        team_id = excluded.team_id, pm_platform_id = excluded.pm_platform_id,
        days_to_close = excluded.days_to_close;
END $$;

-- The kept quarters that end after p_from (NULL: none kept), in the
-- caller's transaction after taking report_rollup in ROW EXCLUSIVE mode:
-- a fill (which takes it in EXCLUSIVE mode) either saw this writer's
-- change or is seen by it as a kept quarter.
CREATE FUNCTION closeloop_report_rollup_quarters(p_from timestamptz)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_q text[];
BEGIN
    LOCK TABLE report_rollup IN ROW EXCLUSIVE MODE;
    SELECT array_agg(k.quarter ORDER BY k.quarter) INTO v_q FROM report_rollup_quarter k
     WHERE closeloop_quarter_start(k.quarter) + interval '3 months' > p_from;
    RETURN v_q;
END $$;

-- Migration 34's span trigger, now also keeping the rollups: the items'
-- contributions before (their spans before, the new events left out) and
-- after, for the kept quarters ending after the earliest new change
-- (point in time counts changes dated before the instant asked about).
CREATE OR REPLACE FUNCTION closeloop_item_span_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_from timestamptz;
    v_q text[];
    v_skip bigint[];
    v_old report_rollup_item[];
BEGIN
    SELECT array_agg(DISTINCT action_item_id ORDER BY action_item_id), min(changed_at) INTO v_ids, v_from
      FROM new_events
     WHERE field IN ('created', 'title', 'owner', 'team_id', 'due_date', 'state');
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM action_item WHERE id = ANY (v_ids) ORDER BY id FOR NO KEY UPDATE;
    v_q := closeloop_report_rollup_quarters(v_from);
    IF v_q IS NOT NULL THEN
        SELECT coalesce(array_agg(id), '{}') INTO v_skip FROM new_events WHERE field = 'state';
        v_old := closeloop_report_rollup_of(v_ids, v_q, v_skip);
    END IF;
    DELETE FROM item_span WHERE action_item_id = ANY (v_ids);
    INSERT INTO item_span SELECT * FROM closeloop_item_spans(v_ids);
    IF v_q IS NOT NULL THEN
        PERFORM closeloop_report_rollup_apply(v_old,
                    closeloop_report_rollup_of(v_ids, v_q));
    END IF;
    RETURN NULL;
END $$;

-- A postmortem's platform or published date changed: its items'
-- contributions with the old values taken away, with the new added.
-- (Transition tables cannot go with a column list: every update
-- statement runs it, and it returns at once when neither changed.)
CREATE FUNCTION closeloop_report_rollup_postmortem() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_pm bigint[];
    v_pl bigint[];
    v_pub date[];
    v_ids bigint[];
    v_q text[];
BEGIN
    SELECT array_agg(o.id), array_agg(o.platform_id), array_agg(o.published_date)
      INTO v_pm, v_pl, v_pub
      FROM old_pm o JOIN new_pm n ON n.id = o.id
     WHERE o.platform_id IS DISTINCT FROM n.platform_id
        OR o.published_date IS DISTINCT FROM n.published_date;
    IF v_pm IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(id ORDER BY id) INTO v_ids FROM action_item WHERE postmortem_id = ANY (v_pm);
    v_q := closeloop_report_rollup_quarters('-infinity');
    IF v_ids IS NULL OR v_q IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM closeloop_report_rollup_apply(
        closeloop_report_rollup_of(v_ids, v_q, '{}', NULL, v_pm, v_pl, v_pub),
        closeloop_report_rollup_of(v_ids, v_q));
    RETURN NULL;
END $$;
CREATE TRIGGER postmortem_report_rollup AFTER UPDATE ON postmortem
    REFERENCING OLD TABLE AS old_pm NEW TABLE AS new_pm
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_rollup_postmortem();

-- An action item moved to another postmortem (the importer's re-keying).
CREATE FUNCTION closeloop_report_rollup_item_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_pms bigint[];
    v_q text[];
BEGIN
    SELECT array_agg(o.id ORDER BY o.id), array_agg(o.postmortem_id ORDER BY o.id) INTO v_ids, v_pms
      FROM old_items o JOIN new_items n ON n.id = o.id
     WHERE o.postmortem_id <> n.postmortem_id;
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    v_q := closeloop_report_rollup_quarters('-infinity');
    IF v_q IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM closeloop_report_rollup_apply(
        closeloop_report_rollup_of(v_ids, v_q, '{}', v_pms),
        closeloop_report_rollup_of(v_ids, v_q));
    RETURN NULL;
END $$;
CREATE TRIGGER action_item_report_rollup AFTER UPDATE ON action_item
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_rollup_item_moved();

-- Keep the quarters p_quarters from now on: each not kept yet is computed
-- from the spans (every item, 20,000 at a time) and marked kept.  Takes
-- report_rollup in EXCLUSIVE mode without queueing in front of writers
-- (NOWAIT, retried for up to 10 s: a queued lock would make later writers
-- wait behind it while they hold item locks an earlier one waits for);
-- returns the quarters filled, or NULL when the lock was not had (the
-- report then computes those quarters from the spans, as before).
CREATE FUNCTION closeloop_report_rollup_fill(p_quarters text[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_q text[];
    v_ids bigint[];
    v_last bigint := 0;
    v_try integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM unnest(p_quarters) g(q)
                    WHERE g.q NOT IN (SELECT quarter FROM report_rollup_quarter)) THEN
        RETURN 0;
    END IF;
    LOOP
        BEGIN
            LOCK TABLE report_rollup IN EXCLUSIVE MODE NOWAIT;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            v_try := v_try + 1;
            IF v_try >= 100 THEN
                RETURN NULL;
            END IF;
            PERFORM pg_sleep(0.1);
        END;
    END LOOP;
    SELECT array_agg(DISTINCT g.q ORDER BY g.q) INTO v_q FROM unnest(p_quarters) g(q)
     WHERE g.q NOT IN (SELECT quarter FROM report_rollup_quarter);
    IF v_q IS NULL THEN
        RETURN 0;
    END IF;
    LOOP
        SELECT array_agg(id ORDER BY id) INTO v_ids
          FROM (SELECT id FROM action_item WHERE id > v_last ORDER BY id LIMIT 20000) a;
        EXIT WHEN v_ids IS NULL;
        PERFORM closeloop_report_rollup_apply('{}', closeloop_report_rollup_of(v_ids, v_q));
        v_last := v_ids[array_upper(v_ids, 1)];
    END LOOP;
    INSERT INTO report_rollup_quarter (quarter) SELECT unnest(v_q);
    RETURN array_length(v_q, 1);
END $$;

-- Keep every quarter from the first recorded change to the current one
-- (the daemon's quarterly check, in its own transaction before
-- closeloop_report_store_warm: a fill holds report_rollup until it
-- commits); returns what closeloop_report_rollup_fill returns.
CREATE FUNCTION closeloop_report_rollup_keep()
RETURNS integer LANGUAGE sql AS $$
    SELECT closeloop_report_rollup_fill(ARRAY(
        SELECT closeloop_quarter_of(g)
          FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event
                                                       WHERE field = 'created')
                                                     AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                               now(), interval '3 months') g))
$$;

-- The same with the rollups emptied first (after history written with
-- triggers off, as tests/bench/report_bench.sh does); returns the
-- quarters filled.
CREATE FUNCTION closeloop_report_rollup_rebuild()
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE report_rollup IN EXCLUSIVE MODE;
    TRUNCATE report_rollup, report_rollup_close, report_rollup_quarter;
    RETURN closeloop_report_rollup_keep();
END $$;

-- Spans rebuilt (history written with triggers off): the rollups kept
-- from them no longer hold; they are emptied (the report computes from
-- the spans until closeloop_report_rollup_fill or _rebuild runs).
CREATE FUNCTION closeloop_report_rollup_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE report_rollup, report_rollup_close, report_rollup_quarter;
    RETURN NULL;
END $$;
CREATE TRIGGER item_span_report_rollup AFTER TRUNCATE ON item_span
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_rollup_forget();

-- ---- the report read from the rollups ----

-- Migration 37's functions keep computing from the spans, under new
-- names; the report's names now read the rollups of kept quarters.
ALTER FUNCTION closeloop_report_figures(text, text, text) RENAME TO closeloop_report_figures_spans;
ALTER FUNCTION closeloop_report_overdue(text, text, text, int) RENAME TO closeloop_report_overdue_spans;
ALTER FUNCTION closeloop_report_postmortems(text, text, text) RENAME TO closeloop_report_postmortems_spans;

-- Escalations sent in [p_qs, p_qe) per item existing at p_qe, with its
-- team then and its postmortem's platform (item_span's key per item).
CREATE FUNCTION closeloop_rollup_escalations(p_qs timestamptz, p_qe timestamptz)
RETURNS TABLE (team_id bigint, pm_platform_id bigint, escalations bigint)
LANGUAGE sql STABLE AS $$
    SELECT s.team_id, pm.platform_id, x.escalations
      FROM closeloop_escalations_in(p_qs, p_qe) x
      JOIN item_span s ON s.action_item_id = x.action_item_id AND s.valid_from < p_qe AND s.valid_to >= p_qe
      JOIN action_item i ON i.id = x.action_item_id
      JOIN postmortem pm ON pm.id = i.postmortem_id
$$;

CREATE FUNCTION closeloop_report_figures_rollup(p_quarter text, p_platform text, p_team text)
RETURNS TABLE (quarter text, level text, platform text, team text,
               opened bigint, closed_done bigint, closed_wont_do bigint, in_play bigint,
               closure_rate numeric, closed_on_time bigint, closed_late bigint,
               closed_undated bigint, median_days_to_close numeric, p90_days_to_close numeric,
               open_end bigint, open_age_0_30 bigint, open_age_31_90 bigint,
               open_age_91_180 bigint, open_age_over_180 bigint, overdue_end bigint,
               needs_decision bigint, ownerless bigint, undated bigint, escalations bigint,
               postmortems_published bigint, postmortem_items bigint,
               postmortem_items_closed bigint)
LANGUAGE plpgsql STABLE SET jit = off SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    v_qs timestamptz := closeloop_quarter_start(p_quarter);
    v_qe timestamptz := closeloop_quarter_start(p_quarter) + interval '3 months';
BEGIN
    RETURN QUERY
    WITH g AS (
        SELECT r.*, NULL::double precision AS days, NULL::bigint AS esc FROM report_rollup r
         WHERE r.quarter = p_quarter
        UNION ALL
        SELECT c.quarter, c.team_id, c.pm_platform_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               c.days_to_close, NULL
          FROM report_rollup_close c WHERE c.quarter = p_quarter
        UNION ALL
        SELECT p_quarter, e.team_id, e.pm_platform_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               e.escalations
          FROM closeloop_rollup_escalations(v_qs, v_qe) e
    ), x AS (
        SELECT g.*, coalesce(pl.name, '(no platform)') AS pf, coalesce(t.name, '(no team)') AS tm
          FROM g
          LEFT JOIN team t ON t.id = g.team_id
          LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, nullif(g.pm_platform_id, 0))
         WHERE (p_platform IS NULL OR pl.name = p_platform)
           AND (p_team IS NULL OR t.name = p_team)
    )
    SELECT p_quarter,
           CASE grouping(pf, tm) WHEN 0 THEN 'team' WHEN 1 THEN 'platform' ELSE 'all' END,
           CASE WHEN grouping(pf) = 0 THEN pf END, CASE WHEN grouping(tm) = 0 THEN tm END,
           coalesce(sum(opened), 0)::bigint,
           coalesce(sum(closed_done), 0)::bigint,
           coalesce(sum(closed_wont_do), 0)::bigint,
           coalesce(sum(in_play), 0)::bigint,
           round(coalesce(sum(closed_done + closed_wont_do), 0)
                 / nullif(coalesce(sum(in_play), 0), 0), 4),
           coalesce(sum(closed_on_time), 0)::bigint,
           coalesce(sum(closed_late), 0)::bigint,
           coalesce(sum(closed_undated), 0)::bigint,
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY days))::numeric, 1),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY days))::numeric, 1),
           coalesce(sum(open_end), 0)::bigint,
           coalesce(sum(open_age_0_30), 0)::bigint,
           coalesce(sum(open_age_31_90), 0)::bigint,
           coalesce(sum(open_age_91_180), 0)::bigint,
           coalesce(sum(open_age_over_180), 0)::bigint,
           coalesce(sum(overdue_end), 0)::bigint,
           coalesce(sum(open_age_over_180), 0)::bigint,
           coalesce(sum(ownerless), 0)::bigint,
           coalesce(sum(undated), 0)::bigint,
           CASE WHEN closeloop_escalation_missing() IS NULL THEN coalesce(sum(esc), 0)::bigint END,
           count(DISTINCT pm_id) FILTER (WHERE pm_id <> 0),
           coalesce(sum(postmortem_items), 0)::bigint,
           coalesce(sum(postmortem_items_closed), 0)::bigint
      FROM x
     GROUP BY GROUPING SETS ((pf, tm), (pf), ())
     ORDER BY grouping(pf, tm) DESC, pf, tm;
END $$;

-- The oldest overdue items at the quarter's end, p_limit per platform:
-- open spans covering the end walked in (due date, item) order on
-- item_span_open_due_idx until every platform has min(p_limit, its
-- overdue_end in the rollup) rows.
CREATE FUNCTION closeloop_report_overdue_rollup(p_quarter text, p_platform text, p_team text,
                                                p_limit int)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE plpgsql STABLE SET jit = off SET plan_cache_mode = force_custom_plan
SET cursor_tuple_fraction = 0.001 AS $$
#variable_conflict use_column
DECLARE
    v_qe timestamptz := closeloop_quarter_start(p_quarter) + interval '3 months';
    v_end_day date := ((closeloop_quarter_start(p_quarter) + interval '3 months') AT TIME ZONE 'UTC')::date;
    v_pf text[];
    v_want int[];
    v_left bigint;
    v_ids bigint[] := '{}';
    i int;
    c record;
BEGIN
    SELECT array_agg(w.pf ORDER BY w.pf), array_agg(w.n ORDER BY w.pf), sum(w.n)
      INTO v_pf, v_want, v_left
      FROM (SELECT coalesce(pl.name, '(no platform)') AS pf, least(sum(r.overdue_end), p_limit)::int AS n
              FROM report_rollup r
              LEFT JOIN team t ON t.id = r.team_id
              LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, nullif(r.pm_platform_id, 0))
             WHERE r.quarter = p_quarter AND r.overdue_end > 0
               AND (p_platform IS NULL OR pl.name = p_platform)
               AND (p_team IS NULL OR t.name = p_team)
             GROUP BY 1) w
     WHERE w.n > 0;
    IF coalesce(v_left, 0) = 0 THEN
        RETURN;
    END IF;
    FOR c IN
        SELECT s.action_item_id, coalesce(pl.name, '(no platform)') AS pf
          FROM item_span s
          JOIN action_item ai ON ai.id = s.action_item_id
          JOIN postmortem pm ON pm.id = ai.postmortem_id
          LEFT JOIN team t ON t.id = s.team_id
          LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
         WHERE s.state NOT IN ('done', 'wont_do') AND s.due_date IS NOT NULL
           AND s.due_date < v_end_day AND s.valid_from < v_qe AND s.valid_to >= v_qe
           AND (p_platform IS NULL OR pl.name = p_platform)
           AND (p_team IS NULL OR t.name = p_team)
         ORDER BY s.due_date, s.action_item_id
    LOOP
        i := array_position(v_pf, c.pf);
        CONTINUE WHEN i IS NULL OR v_want[i] = 0;
        v_want[i] := v_want[i] - 1;
        v_ids := v_ids || c.action_item_id;
        v_left := v_left - 1;
        EXIT WHEN v_left = 0;
    END LOOP;
    RETURN QUERY
    SELECT coalesce(pl.name, '(no platform)'), coalesce(t.name, '(no team)'), s.action_item_id,
           pm.reference, s.title, s.owner, s.due_date, (v_end_day - s.due_date)::int,
           l.ticket_key, l.ticket_url
      FROM item_span s
      JOIN action_item ai ON ai.id = s.action_item_id
      JOIN postmortem pm ON pm.id = ai.postmortem_id
      LEFT JOIN team t ON t.id = s.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
      LEFT JOIN LATERAL (SELECT el.remote_key AS ticket_key, el.url AS ticket_url FROM external_link el
                          WHERE el.action_item_id = s.action_item_id AND el.url IS NOT NULL
                          ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) l ON true
     WHERE s.action_item_id = ANY (v_ids) AND s.valid_from < v_qe AND s.valid_to >= v_qe
     ORDER BY 1, s.due_date, s.action_item_id;
END $$;

-- The postmortems published in the quarter, their items at its end from
-- the rollup's postmortem rows.
CREATE FUNCTION closeloop_report_postmortems_rollup(p_quarter text, p_platform text, p_team text)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE plpgsql STABLE SET jit = off SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    v_start_day date := (closeloop_quarter_start(p_quarter) AT TIME ZONE 'UTC')::date;
    v_end_day date := ((closeloop_quarter_start(p_quarter) + interval '3 months') AT TIME ZONE 'UTC')::date;
BEGIN
    RETURN QUERY
    SELECT coalesce(pl.name, '(no platform)'), pm.reference, pm.title, pm.published_date,
           coalesce(sum(e.items), 0)::bigint, coalesce(sum(e.postmortem_items_closed), 0)::bigint
      FROM postmortem pm
      LEFT JOIN team pt ON pt.id = pm.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(pm.platform_id, pt.platform_id)
      LEFT JOIN report_rollup e ON e.quarter = p_quarter AND e.pm_id = pm.id
      LEFT JOIN team t ON t.id = e.team_id
     WHERE pm.published_date >= v_start_day
       AND pm.published_date < v_end_day
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)
     GROUP BY pl.name, pm.id
     ORDER BY pm.published_date, pm.reference;
END $$;

-- The report's three functions: a kept quarter from the rollups, any other
-- from the spans (migration 37's, renamed above).
CREATE FUNCTION closeloop_report_figures(p_quarter text, p_platform text DEFAULT NULL,
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
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM report_rollup_quarter k WHERE k.quarter = p_quarter) THEN
        RETURN QUERY SELECT * FROM closeloop_report_figures_rollup(p_quarter, p_platform, p_team);
    ELSE
        RETURN QUERY SELECT * FROM closeloop_report_figures_spans(p_quarter, p_platform, p_team);
    END IF;
END $$;

CREATE FUNCTION closeloop_report_overdue(p_quarter text, p_platform text DEFAULT NULL,
                                         p_team text DEFAULT NULL, p_limit int DEFAULT 10)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM report_rollup_quarter k WHERE k.quarter = p_quarter) THEN
        RETURN QUERY SELECT * FROM closeloop_report_overdue_rollup(p_quarter, p_platform, p_team, p_limit);
    ELSE
        RETURN QUERY SELECT * FROM closeloop_report_overdue_spans(p_quarter, p_platform, p_team, p_limit);
    END IF;
END $$;

CREATE FUNCTION closeloop_report_postmortems(p_quarter text, p_platform text DEFAULT NULL,
                                             p_team text DEFAULT NULL)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM report_rollup_quarter k WHERE k.quarter = p_quarter) THEN
        RETURN QUERY SELECT * FROM closeloop_report_postmortems_rollup(p_quarter, p_platform, p_team);
    ELSE
        RETURN QUERY SELECT * FROM closeloop_report_postmortems_spans(p_quarter, p_platform, p_team);
    END IF;
END $$;

REVOKE EXECUTE ON FUNCTION closeloop_report_figures(text, text, text),
       closeloop_report_overdue(text, text, text, int),
       closeloop_report_postmortems(text, text, text),
       closeloop_report_figures_rollup(text, text, text),
       closeloop_report_overdue_rollup(text, text, text, int),
       closeloop_report_postmortems_rollup(text, text, text),
       closeloop_rollup_items(bigint[], text[], bigint[], bigint[], bigint[], bigint[], date[]),
       closeloop_report_rollup_of(bigint[], text[], bigint[], bigint[], bigint[], bigint[], date[]),
       closeloop_rollup_escalations(timestamptz, timestamptz),
       closeloop_report_rollup_apply(report_rollup_item[], report_rollup_item[]),
       closeloop_report_rollup_quarters(timestamptz),
       closeloop_report_rollup_fill(text[]), closeloop_report_rollup_keep(),
       closeloop_report_rollup_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION closeloop_report_figures(text, text, text),
       closeloop_report_overdue(text, text, text, int),
       closeloop_report_postmortems(text, text, text) TO closeloop_reader;

-- The ledger's history so far.
SELECT closeloop_report_rollup_rebuild();
ANALYZE report_rollup, report_rollup_close;
