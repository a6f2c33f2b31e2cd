-- 008_report.sql — point in time, the quarterly closure report's figures,
-- the dashboard views and the read-only role closeloop_reader.
-- Documented column by column in docs/schema.md ("Point in time",
-- "Report functions", "Dashboard views"); the views are a stable contract.

-- ---- when a change happened, beside when the ledger learned it ----
--
-- item_event.at is the ledger's transaction time.  changed_at is when the
-- change happened at its source: for a change pulled from a tracker, the
-- ticket's updated-at (reconcile sets closeloop.changed_at for its
-- transaction); for a backfill, the historical time the writer sets the
-- same way; otherwise the transaction time.  Never later than now().
-- A ticket closed at 23:58 on a quarter's last day and pulled after
-- midnight therefore counts in the quarter it was closed in.
CREATE FUNCTION closeloop_changed_at() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT least(coalesce(nullif(current_setting('closeloop.changed_at', true), '')::timestamptz,
                          now()), now())
$$;

ALTER TABLE item_event ADD COLUMN changed_at timestamptz;
DROP RULE item_event_no_update ON item_event;
UPDATE item_event SET changed_at = at;
CREATE RULE item_event_no_update AS ON UPDATE TO item_event DO INSTEAD NOTHING;
ALTER TABLE item_event ALTER COLUMN changed_at SET DEFAULT closeloop_changed_at(),
                       ALTER COLUMN changed_at SET NOT NULL;
CREATE INDEX item_event_field_changed_idx ON item_event (field, changed_at);

-- ---- the ledger as it stood at an instant ----
--
-- One row per action item whose 'created' event happened before p_at, with
-- each historised field as it stood then: for every field, the value of
-- the latest event (in ledger order, item_event.id) among the events whose
-- changed_at is before p_at, else the value the item was created with.
--   opened_at   changed_at of the 'created' event
--   closed_at   when the item last moved from open/in_progress to done or
--               wont_do before p_at (opened_at if it was created closed);
--               NULL when its state at p_at is open or in_progress
--   close_event item_event.id of that transition (NULL if created closed)
-- Platform and team names are today's (team -> platform is not historised);
-- an item's platform is its team's, else its postmortem's.
CREATE FUNCTION closeloop_items_at(p_at timestamptz)
RETURNS TABLE (action_item_id bigint, postmortem_id bigint, title text, owner text,
               team_id bigint, due_date date, state text, opened_at timestamptz,
               closed_at timestamptz, close_event bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH c AS (
        SELECT e.action_item_id, e.changed_at AS opened_at, e.new_value AS state, e.detail
          FROM item_event e
         WHERE e.field = 'created' AND e.changed_at < p_at
    ), f AS (
        SELECT DISTINCT ON (e.action_item_id, e.field) e.action_item_id, e.field, e.new_value
          FROM item_event e JOIN c USING (action_item_id)
         WHERE e.field IN ('title', 'owner', 'team_id', 'due_date', 'state')
           AND e.changed_at < p_at
         ORDER BY e.action_item_id, e.field, e.id DESC
    ), p AS (
        SELECT f.action_item_id,
               bool_or(f.field = 'title') AS has_title, max(f.new_value) FILTER (WHERE f.field = 'title') AS title,
               bool_or(f.field = 'owner') AS has_owner, max(f.new_value) FILTER (WHERE f.field = 'owner') AS owner,
               bool_or(f.field = 'team_id') AS has_team, max(f.new_value) FILTER (WHERE f.field = 'team_id') AS team_id,
               bool_or(f.field = 'due_date') AS has_due, max(f.new_value) FILTER (WHERE f.field = 'due_date') AS due_date,
               max(f.new_value) FILTER (WHERE f.field = 'state') AS state
          FROM f GROUP BY f.action_item_id
    ), s AS (
        SELECT c.action_item_id, c.opened_at, c.state AS state0,
               CASE WHEN p.has_title THEN p.title ELSE c.detail->>'title' END AS title,
               CASE WHEN p.has_owner THEN p.owner ELSE c.detail->>'owner' END AS owner,
               CASE WHEN p.has_team THEN p.team_id ELSE c.detail->>'team_id' END AS team_id,
               CASE WHEN p.has_due THEN p.due_date ELSE c.detail->>'due_date' END AS due_date,
               coalesce(p.state, c.state) AS state
          FROM c LEFT JOIN p USING (action_item_id)
    ), cl AS (
        SELECT DISTINCT ON (e.action_item_id) e.action_item_id, e.changed_at, e.id
          FROM item_event e JOIN s USING (action_item_id)
         WHERE e.field = 'state' AND e.changed_at < p_at
           AND s.state IN ('done', 'wont_do')
           AND e.new_value IN ('done', 'wont_do')
           AND coalesce(e.old_value, '') NOT IN ('done', 'wont_do')
         ORDER BY e.action_item_id, e.id DESC
    )
    SELECT s.action_item_id, i.postmortem_id, s.title, nullif(s.owner, ''),
           s.team_id::bigint, s.due_date::date, s.state, s.opened_at,
           CASE WHEN s.state IN ('done', 'wont_do') THEN coalesce(cl.changed_at, s.opened_at) END,
           cl.id
      FROM s JOIN action_item i ON i.id = s.action_item_id
      LEFT JOIN cl USING (action_item_id)
$$;

-- The due date in force when an item was closed: the latest due_date event
-- before the closing event p_event (ledger order), else the value the item
-- was created with (also when p_event is NULL: created closed).
CREATE FUNCTION closeloop_due_at_event(p_item bigint, p_event bigint)
RETURNS date LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT (CASE WHEN d.found THEN d.v ELSE c.detail->>'due_date' END)::date
      FROM item_event c
      LEFT JOIN LATERAL (SELECT true AS found, e.new_value AS v FROM item_event e
                          WHERE e.action_item_id = p_item AND e.field = 'due_date'
                            AND e.id < p_event
                          ORDER BY e.id DESC LIMIT 1) d ON true
     WHERE c.action_item_id = p_item AND c.field = 'created'
     ORDER BY c.id LIMIT 1
$$;

-- ---- quarters (UTC) ----

-- 'YYYYQn' -> the quarter's first instant, UTC.  A malformed label raises
-- an error that names it and the expected shape.
CREATE FUNCTION closeloop_quarter_start(p_quarter text)
RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_quarter IS NULL OR p_quarter !~ '^[0-9]{4}Q[1-4]$' THEN
        RAISE EXCEPTION 'quarter "%" is not of the form YYYYQn (e.g. 2026Q3)', p_quarter
              USING ERRCODE = '22007';
    END IF;
    RETURN make_timestamptz(substr(p_quarter, 1, 4)::int,
                            (substr(p_quarter, 6, 1)::int - 1) * 3 + 1, 1, 0, 0, 0, 'UTC');
END $$;

-- The label of the quarter containing p_at (UTC), e.g. '2026Q3'.
CREATE FUNCTION closeloop_quarter_of(p_at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY"Q"Q')
$$;

-- The label n quarters after (n < 0: before) p_quarter.
CREATE FUNCTION closeloop_quarter_add(p_quarter text, p_n int)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT closeloop_quarter_of(closeloop_quarter_start(p_quarter) + make_interval(months => 3 * p_n))
$$;

-- ---- escalations (recorded by the escalation ladder, when it exists) ----

-- NULL when escalations can be counted, else why not (shown in the report
-- instead of a figure).  Counting needs a table escalation with columns
-- action_item_id and sent_at.
CREATE FUNCTION closeloop_escalation_missing()
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF to_regclass('escalation') IS NULL THEN
        RETURN 'this ledger has no escalation table: escalations are not recorded yet';
    END IF;
    IF (SELECT count(*) FROM information_schema.columns
         WHERE table_name = 'escalation' AND table_schema = current_schema()
           AND column_name IN ('action_item_id', 'sent_at')) < 2 THEN
        RETURN 'the escalation table has no action_item_id/sent_at columns';
    END IF;
    RETURN NULL;
END $$;

-- Escalations sent in [p_start, p_end), per action item (none when
-- closeloop_escalation_missing() is not NULL).
CREATE FUNCTION closeloop_escalations_in(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (action_item_id bigint, escalations bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF closeloop_escalation_missing() IS NOT NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT action_item_id::bigint, count(*) FROM escalation
          WHERE sent_at >= $1 AND sent_at < $2 GROUP BY action_item_id'
        USING p_start, p_end;
END $$;

-- ---- the quarterly closure report's figures ----
--
-- One row per (platform, team) with level 'team', one per platform with
-- level 'platform' (team NULL) and one with level 'all' (both NULL), for
-- quarter p_quarter as the ledger stood at the quarter's end
-- (closeloop_items_at at the quarter's start and end).  p_platform /
-- p_team (names, NULL = all) restrict the items counted.  Items without a
-- team count under team '(no team)', without a platform under
-- '(no platform)'.  Definitions (docs/report.md):
--   opened            created in the quarter
--   closed_done / closed_wont_do
--                     open at some time in the quarter and, at its end,
--                     done / wont_do with the closing transition in it
--   in_play           open at some instant of the quarter: open at its
--                     start, opened in it, or reopened in it
--   closure_rate      (closed_done + closed_wont_do) / in_play, 0..1
--   closed_on_time    closed on or before (UTC date) the due date in
--                     force when it was closed; closed_late after it;
--                     closed_undated without a due date then
--   median_days_to_close, p90_days_to_close
--                     days from opened to closed of the items closed
--                     in the quarter (percentile_cont), 1 decimal
--   open_end          open or in progress at the quarter's end, split by
--                     whole days of age: open_age_0_30, _31_90,
--                     _91_180, _over_180
--   overdue_end       open at the end with a due date before the
--                     quarter's end (due on the last day: 1 day overdue)
--   needs_decision    open at the end and older than 180 days
--   ownerless / undated
--                     open at the end without owner / due date
--   escalations       sent in the quarter; NULL when not recorded
--   postmortems_published, postmortem_items, postmortem_items_closed
--                     postmortems whose published_date is in the
--                     quarter, their items existing at the end and how
--                     many of those were done or wont_do at the end
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
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) AS qs,
               closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    ), e AS (
        SELECT * FROM q, closeloop_items_at(q.qe)
    ), b AS (
        SELECT * FROM q, closeloop_items_at(q.qs)
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
                    THEN closeloop_due_at_event(e.action_item_id, e.close_event) END AS due_at_close,
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

-- Items overdue at the end of p_quarter (as the ledger stood then), at
-- most p_limit per platform, the oldest due date first: title, owner and
-- due date as they stood, ticket = today's managed link (else the first
-- reference).  days_overdue = whole days from the due date to the
-- quarter's end (due on the last day: 1).
CREATE FUNCTION closeloop_report_overdue(p_quarter text, p_platform text DEFAULT NULL,
                                         p_team text DEFAULT NULL, p_limit int DEFAULT 10)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    )
    SELECT o.platform, o.team, o.action_item_id, o.postmortem, o.title, o.owner, o.due_date,
           o.days_overdue, o.ticket_key, o.ticket_url
      FROM (
    SELECT coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
           e.action_item_id, pm.reference AS postmortem, e.title, e.owner, e.due_date,
           ((q.qe AT TIME ZONE 'UTC')::date - e.due_date)::int AS days_overdue,
           l.remote_key AS ticket_key, l.url AS ticket_url,
           row_number() OVER (PARTITION BY pl.name ORDER BY e.due_date, e.action_item_id) AS n
      FROM q, closeloop_items_at(q.qe) e
      JOIN postmortem pm ON pm.id = e.postmortem_id
      LEFT JOIN team t ON t.id = e.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
      LEFT JOIN LATERAL (SELECT el.remote_key, el.url FROM external_link el
                          WHERE el.action_item_id = e.action_item_id AND el.url IS NOT NULL
                          ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) l ON true
     WHERE e.state NOT IN ('done', 'wont_do') AND e.due_date < (q.qe AT TIME ZONE 'UTC')::date
       AND (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)) o
     WHERE o.n <= p_limit
     ORDER BY o.platform, o.due_date, o.action_item_id
$$;

-- Postmortems published in p_quarter: their items existing at the
-- quarter's end and how many of those were closed (done / wont_do) then.
-- The platform is the postmortem's, else that of its team.
CREATE FUNCTION closeloop_report_postmortems(p_quarter text, p_platform text DEFAULT NULL,
                                             p_team text DEFAULT NULL)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) AS qs,
               closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    ), e AS (
        SELECT i.* FROM q, closeloop_items_at(q.qe) i
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

-- ---- dashboard views (a stable contract: docs/schema.md) ----

-- Action items open or in progress today, with age, flags and ticket.
-- opened_at is the 'created' event's changed_at (as in the report).
CREATE VIEW v_open_item AS
SELECT i.id AS action_item_id, pm.reference AS postmortem, pm.title AS postmortem_title,
       coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
       i.title, i.type, i.priority, i.owner, i.state, i.due_date, o.opened_at,
       floor(extract(epoch FROM now() - o.opened_at) / 86400)::int AS age_days,
       CASE WHEN i.due_date < current_date THEN current_date - i.due_date END AS days_overdue,
       (i.owner IS NULL OR i.owner = '') AS ownerless,
       (i.due_date IS NULL) AS undated,
       coalesce(i.due_date < current_date, false) AS overdue,
       (now() - o.opened_at > interval '180 days') AS needs_decision,
       l.remote_key AS ticket_key, l.url AS ticket_url, l.state AS link_state,
       (SELECT count(*) FROM external_link c WHERE c.action_item_id = i.id) AS links
  FROM action_item i
  JOIN postmortem pm ON pm.id = i.postmortem_id
  LEFT JOIN team t ON t.id = i.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
  CROSS JOIN LATERAL (SELECT coalesce((SELECT min(e.changed_at) FROM item_event e
                                        WHERE e.action_item_id = i.id AND e.field = 'created'),
                                       i.created_at) AS opened_at) o
  LEFT JOIN LATERAL (SELECT el.remote_key, el.url, el.state FROM external_link el
                      WHERE el.action_item_id = i.id
                      ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) l ON true
 WHERE i.state IN ('open', 'in_progress');

-- Every recorded change of every action item.
CREATE VIEW v_item_history AS
SELECT e.id AS event_id, e.action_item_id, i.title AS item_title, pm.reference AS postmortem,
       coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
       e.at, e.changed_at, e.field, e.old_value, e.new_value, e.source, e.actor
  FROM item_event e
  JOIN action_item i ON i.id = e.action_item_id
  JOIN postmortem pm ON pm.id = i.postmortem_id
  LEFT JOIN team t ON t.id = i.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id);

-- The report's figures for every quarter from the first recorded change
-- to the current (incomplete) one, at the levels 'team', 'platform', 'all'.
CREATE VIEW v_closure_by_quarter AS
SELECT closeloop_quarter_start(f.quarter) AS quarter_start, f.*
  FROM (SELECT closeloop_quarter_of(g) AS quarter
          FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event)
                                                     AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                               now(), interval '3 months') AS g) qs,
       closeloop_report_figures(qs.quarter) f;

-- Per UTC day of the last 90 days (today included, as it stands now):
-- items open and overdue at the end of that day, per platform and team.
CREATE VIEW v_overdue_daily AS
SELECT d.day, coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
       count(*) AS open,
       count(*) FILTER (WHERE e.due_date < d.day + 1) AS overdue
  FROM (SELECT g::date AS day FROM generate_series((now() AT TIME ZONE 'UTC')::date - 89,
                                                   (now() AT TIME ZONE 'UTC')::date,
                                                   interval '1 day') g) d,
       closeloop_items_at(least((d.day + 1)::timestamp AT TIME ZONE 'UTC', now() + interval '1 microsecond')) e
  JOIN postmortem pm ON pm.id = e.postmortem_id
  LEFT JOIN team t ON t.id = e.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
 WHERE e.state IN ('open', 'in_progress')
 GROUP BY d.day, pl.name, t.name;

-- Every tracker link and how its sync stands.
CREATE VIEW v_link_sync AS
SELECT l.id AS link_id, l.action_item_id, i.title AS item_title,
       coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
       l.connector, l.target, l.kind, l.state, l.remote_key, l.url, l.remote_updated_at,
       (l.kind = 'managed' AND l.state = 'linked' AND l.synced_version = i.version) AS in_sync,
       i.version - l.synced_version AS versions_behind,
       l.broken_reason, l.last_error, l.error_count, l.updated_at,
       c.cursor_at, c.last_run_at, c.last_error AS target_last_error
  FROM external_link l
  JOIN action_item i ON i.id = l.action_item_id
  JOIN postmortem pm ON pm.id = i.postmortem_id
  LEFT JOIN team t ON t.id = i.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
  LEFT JOIN sync_cursor c ON c.connector = l.connector AND c.target = l.target;

-- ---- the read-only role for dashboards ----
-- NOLOGIN: an operator grants it to a login role (GRANT closeloop_reader
-- TO grafana).  SELECT on the views only; the views' functions run as their
-- owner (SECURITY DEFINER), so no table is readable through this role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'closeloop_reader') THEN
        CREATE ROLE closeloop_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database of this cluster created it at the same moment
END $$;
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO closeloop_reader', current_schema());
END $$;
GRANT SELECT ON v_open_item, v_item_history, v_closure_by_quarter, v_overdue_daily, v_link_sync
   TO closeloop_reader;
REVOKE EXECUTE ON FUNCTION closeloop_items_at(timestamptz), closeloop_due_at_event(bigint, bigint),
       closeloop_escalation_missing(), closeloop_escalations_in(timestamptz, timestamptz),
       closeloop_report_figures(text, text, text), closeloop_report_overdue(text, text, text, int),
       closeloop_report_postmortems(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION closeloop_items_at(timestamptz), closeloop_due_at_event(bigint, bigint),
       closeloop_escalation_missing(), closeloop_escalations_in(timestamptz, timestamptz),
       closeloop_report_figures(text, text, text), closeloop_report_overdue(text, text, text, int),
       closeloop_report_postmortems(text, text, text) TO closeloop_reader;
