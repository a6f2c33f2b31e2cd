-- 019_report_store.sql — the figures of ended quarters, stored (docs/report.md
-- "Cost", docs/schema.md "Stored figures of ended quarters").
--
-- A quarter's figures, overdue list and postmortems list only change when
-- a change dated inside or before it reaches the ledger late (a ticket's
-- update pulled after the quarter ended, a backfill) or when a name or a
-- routing they show changes (team, platform, postmortem).  So they are
-- computed once after the quarter has ended — by `closeloop report` just
-- before it reads (closeloop_report_store_fill), and by the daemon for
-- every ended quarter (closeloop_report_store_warm) — and read back from
-- these tables afterwards; the triggers below delete what such a change
-- makes stale, and the next read computes it again.  The *_s functions
-- return exactly what the functions of migration 8 return (same columns,
-- same order, same values: the report stays byte-for-byte the same),
-- from the store when it holds the answer, else computed.

CREATE TABLE report_store_key (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('figures', 'overdue', 'postmortems')),
    quarter     text NOT NULL,
    f_platform  text NOT NULL DEFAULT '',   -- the filter, '' = none
    f_team      text NOT NULL DEFAULT '',
    f_limit     integer NOT NULL DEFAULT 0, -- overdue: the list's length
    q_end       timestamptz NOT NULL,       -- the quarter's end (exclusive)
    computed_at timestamptz NOT NULL DEFAULT now(),
    snapshot    boolean NOT NULL DEFAULT false, -- the current quarter as of computed_at
                                               -- (for v_closure_by_quarter only)
    UNIQUE (kind, quarter, f_platform, f_team, f_limit)
);
CREATE INDEX report_store_key_end_idx ON report_store_key (q_end);

CREATE TABLE report_figures_store AS
    SELECT 0::bigint AS key_id, 0::bigint AS ord, f.*
      FROM closeloop_report_figures('2000Q1') f WITH NO DATA;
CREATE TABLE report_overdue_store AS
    SELECT 0::bigint AS key_id, 0::bigint AS ord, f.*
      FROM closeloop_report_overdue('2000Q1') f WITH NO DATA;
CREATE TABLE report_postmortems_store AS
    SELECT 0::bigint AS key_id, 0::bigint AS ord, f.*
      FROM closeloop_report_postmortems('2000Q1') f WITH NO DATA;
ALTER TABLE report_figures_store ADD FOREIGN KEY (key_id) REFERENCES report_store_key(id) ON DELETE CASCADE;
ALTER TABLE report_overdue_store ADD FOREIGN KEY (key_id) REFERENCES report_store_key(id) ON DELETE CASCADE;
ALTER TABLE report_postmortems_store ADD FOREIGN KEY (key_id) REFERENCES report_store_key(id) ON DELETE CASCADE;
CREATE INDEX report_figures_store_key_idx ON report_figures_store (key_id, ord);
CREATE INDEX report_overdue_store_key_idx ON report_overdue_store (key_id, ord);
CREATE INDEX report_postmortems_store_key_idx ON report_postmortems_store (key_id, ord);

-- Store what the three functions answer for (quarter, platform, team,
-- limit) if the quarter has ended and nothing is stored yet.  Returns
-- true when the quarter has ended (stored now or before).  The lock makes
-- a concurrent late change wait, so its invalidation sees what is stored
-- here (READ COMMITTED: its DELETE runs after this commits).
CREATE FUNCTION closeloop_report_store_fill(p_quarter text, p_platform text DEFAULT NULL,
                                            p_team text DEFAULT NULL, p_limit integer DEFAULT 10,
                                            p_lists boolean DEFAULT true)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_end timestamptz := closeloop_quarter_start(closeloop_quarter_add(p_quarter, 1));
    v_p text := coalesce(p_platform, '');
    v_t text := coalesce(p_team, '');
    v_need integer := CASE WHEN p_lists THEN 3 ELSE 1 END;
    k bigint;
BEGIN
    IF v_end > now() THEN
        RETURN false;
    END IF;
    IF (SELECT count(*) FROM report_store_key
         WHERE quarter = p_quarter AND f_platform = v_p AND f_team = v_t
           AND (kind IN ('figures', 'postmortems') OR f_limit = p_limit)
           AND (p_lists OR kind = 'figures') AND NOT snapshot) = v_need THEN
        RETURN true;
    END IF;
    LOCK TABLE report_store_key IN SHARE ROW EXCLUSIVE MODE;
    -- a snapshot taken while the quarter ran is not its final figures
    DELETE FROM report_store_key WHERE quarter = p_quarter AND snapshot;
    INSERT INTO report_store_key (kind, quarter, f_platform, f_team, q_end)
    VALUES ('figures', p_quarter, v_p, v_t, v_end)
    ON CONFLICT DO NOTHING RETURNING id INTO k;
    IF k IS NOT NULL THEN
        INSERT INTO report_figures_store
        SELECT k, row_number() OVER (), f.* FROM closeloop_report_figures(p_quarter, p_platform, p_team) f;
    END IF;
    IF NOT p_lists THEN
        RETURN true;
    END IF;
    k := NULL;
    INSERT INTO report_store_key (kind, quarter, f_platform, f_team, f_limit, q_end)
    VALUES ('overdue', p_quarter, v_p, v_t, p_limit, v_end)
    ON CONFLICT DO NOTHING RETURNING id INTO k;
    IF k IS NOT NULL THEN
        INSERT INTO report_overdue_store
        SELECT k, row_number() OVER (), f.*
          FROM closeloop_report_overdue(p_quarter, p_platform, p_team, p_limit) f;
    END IF;
    k := NULL;
    INSERT INTO report_store_key (kind, quarter, f_platform, f_team, q_end)
    VALUES ('postmortems', p_quarter, v_p, v_t, v_end)
    ON CONFLICT DO NOTHING RETURNING id INTO k;
    IF k IS NOT NULL THEN
        INSERT INTO report_postmortems_store
        SELECT k, row_number() OVER (), f.* FROM closeloop_report_postmortems(p_quarter, p_platform, p_team) f;
    END IF;
    RETURN true;
END $$;

-- The daemon's warm-up: the unfiltered figures of every ended quarter
-- since the first recorded change (what v_closure_by_quarter shows), the
-- last ended quarter's lists too, and a fresh snapshot of the current
-- quarter (v_closure_by_quarter's last row: as of this call).  Returns the number of quarters filled
-- or already stored.
CREATE FUNCTION closeloop_report_store_warm()
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q text;
    n integer := 0;
BEGIN
    FOR q IN SELECT closeloop_quarter_of(g)
               FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event
                                                            WHERE field = 'created')
                                                          AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                    now() - interval '3 months', interval '3 months') g
    LOOP
        IF closeloop_report_store_fill(q, NULL, NULL, 10, false) THEN
            n := n + 1;
        END IF;
    END LOOP;
    PERFORM closeloop_report_store_fill(closeloop_quarter_add(closeloop_quarter_of(now()), -1));
    PERFORM closeloop_overdue_daily_fill();
    -- the current quarter as it stands now, for the dashboards
    LOCK TABLE report_store_key IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM report_store_key WHERE snapshot;
    q := closeloop_quarter_of(now());
    INSERT INTO report_store_key (kind, quarter, q_end, snapshot)
    VALUES ('figures', q, closeloop_quarter_start(closeloop_quarter_add(q, 1)), true)
    ON CONFLICT DO NOTHING;
    INSERT INTO report_figures_store
    SELECT k.id, row_number() OVER (), f.*
      FROM report_store_key k, closeloop_report_figures(q) f
     WHERE k.snapshot AND k.quarter = q;
    RETURN n;
END $$;

CREATE FUNCTION closeloop_report_figures_s(p_quarter text, p_platform text DEFAULT NULL, p_team text DEFAULT NULL)
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
DECLARE
    k bigint;
BEGIN
    SELECT id INTO k FROM report_store_key
     WHERE kind = 'figures' AND report_store_key.quarter = p_quarter
       AND f_platform = coalesce(p_platform, '') AND f_team = coalesce(p_team, '')
       AND f_limit = 0 AND NOT snapshot;
    IF k IS NULL THEN
        RETURN QUERY SELECT * FROM closeloop_report_figures(p_quarter, p_platform, p_team);
    ELSE
        RETURN QUERY SELECT s.quarter, s.level, s.platform, s.team, s.opened, s.closed_done, s.closed_wont_do, s.in_play, s.closure_rate, s.closed_on_time, s.closed_late, s.closed_undated, s.median_days_to_close, s.p90_days_to_close, s.open_end, s.open_age_0_30, s.open_age_31_90, s.open_age_91_180, s.open_age_over_180, s.overdue_end, s.needs_decision, s.ownerless, s.undated, s.escalations, s.postmortems_published, s.postmortem_items, s.postmortem_items_closed FROM report_figures_store s WHERE s.key_id = k ORDER BY s.ord;
    END IF;
END $$;

CREATE FUNCTION closeloop_report_overdue_s(p_quarter text, p_platform text DEFAULT NULL, p_team text DEFAULT NULL, p_limit int DEFAULT 10)
RETURNS TABLE (platform text, team text, action_item_id bigint, postmortem text, title text,
               owner text, due_date date, days_overdue int, ticket_key text, ticket_url text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    k bigint;
BEGIN
    SELECT id INTO k FROM report_store_key
     WHERE kind = 'overdue' AND report_store_key.quarter = p_quarter
       AND f_platform = coalesce(p_platform, '') AND f_team = coalesce(p_team, '')
       AND f_limit = p_limit AND NOT snapshot;
    IF k IS NULL THEN
        RETURN QUERY SELECT * FROM closeloop_report_overdue(p_quarter, p_platform, p_team, p_limit);
    ELSE
        RETURN QUERY SELECT s.platform, s.team, s.action_item_id, s.postmortem, s.title, s.owner, s.due_date, s.days_overdue, s.ticket_key, s.ticket_url FROM report_overdue_store s WHERE s.key_id = k ORDER BY s.ord;
    END IF;
END $$;

CREATE FUNCTION closeloop_report_postmortems_s(p_quarter text, p_platform text DEFAULT NULL, p_team text DEFAULT NULL)
RETURNS TABLE (platform text, reference text, title text, published_date date,
               items bigint, items_closed bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    k bigint;
BEGIN
    SELECT id INTO k FROM report_store_key
     WHERE kind = 'postmortems' AND report_store_key.quarter = p_quarter
       AND f_platform = coalesce(p_platform, '') AND f_team = coalesce(p_team, '')
       AND f_limit = 0 AND NOT snapshot;
    IF k IS NULL THEN
        RETURN QUERY SELECT * FROM closeloop_report_postmortems(p_quarter, p_platform, p_team);
    ELSE
        RETURN QUERY SELECT s.platform, s.reference, s.title, s.published_date, s.items, s.items_closed FROM report_postmortems_store s WHERE s.key_id = k ORDER BY s.ord;
    END IF;
END $$;

-- For v_closure_by_quarter: the stored figures, the current quarter's
-- snapshot included (as of the daemon's last refresh), else computed.
CREATE FUNCTION closeloop_report_figures_v(p_quarter text)
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
DECLARE
    k bigint;
BEGIN
    SELECT id INTO k FROM report_store_key
     WHERE kind = 'figures' AND report_store_key.quarter = p_quarter
       AND f_platform = '' AND f_team = ''
       AND f_limit = 0;
    IF k IS NULL THEN
        RETURN QUERY SELECT * FROM closeloop_report_figures(p_quarter);
    ELSE
        RETURN QUERY SELECT s.quarter, s.level, s.platform, s.team, s.opened, s.closed_done, s.closed_wont_do, s.in_play, s.closure_rate, s.closed_on_time, s.closed_late, s.closed_undated, s.median_days_to_close, s.p90_days_to_close, s.open_end, s.open_age_0_30, s.open_age_31_90, s.open_age_91_180, s.open_age_over_180, s.overdue_end, s.needs_decision, s.ownerless, s.undated, s.escalations, s.postmortems_published, s.postmortem_items, s.postmortem_items_closed FROM report_figures_store s WHERE s.key_id = k ORDER BY s.ord;
    END IF;
END $$;

-- Same columns as in migration 8, from the store where it has them.
-- The first recorded change is the first 'created' event (every other
-- event of an item follows its creation): found on item_event's (field,
-- changed_at) index instead of a scan of the whole history.
CREATE OR REPLACE VIEW v_closure_by_quarter AS
SELECT closeloop_quarter_start(f.quarter) AS quarter_start, f.*
  FROM (SELECT closeloop_quarter_of(g) AS quarter
          FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event
                                                       WHERE field = 'created')
                                                     AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                               now(), interval '3 months') AS g) qs,
       closeloop_report_figures_v(qs.quarter) f;

-- ---- what makes stored figures stale ----

-- A change dated before the current quarter (pulled late, backfilled)
-- changes every ended quarter that ends after it.  Changes dated now — the
-- usual case — touch nothing here.
CREATE FUNCTION closeloop_report_store_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_min timestamptz;
BEGIN
    SELECT min(changed_at) INTO v_min FROM new_events;
    IF v_min < closeloop_quarter_start(closeloop_quarter_of(now())) THEN
        DELETE FROM report_store_key WHERE q_end > v_min;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER item_event_report_store AFTER INSERT ON item_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    EXECUTE FUNCTION closeloop_report_store_event();

-- Names and routing the stored figures show (today's, docs/report.md).
CREATE FUNCTION closeloop_report_store_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_store_key;
    RETURN NULL;
END $$;
CREATE TRIGGER team_report_store AFTER UPDATE OF name, platform_id OR DELETE ON team
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_store_clear();
CREATE TRIGGER platform_report_store AFTER UPDATE OF name OR DELETE ON platform
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_store_clear();
CREATE TRIGGER postmortem_report_store
    AFTER UPDATE OF reference, title, platform_id, published_date OR DELETE ON postmortem
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_store_clear();
CREATE TRIGGER action_item_report_store AFTER UPDATE OF postmortem_id OR DELETE ON action_item
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_report_store_clear();

REVOKE EXECUTE ON FUNCTION closeloop_report_figures_v(text), closeloop_report_figures_s(text, text, text),
       closeloop_report_overdue_s(text, text, text, int),
       closeloop_report_postmortems_s(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION closeloop_report_figures_v(text), closeloop_report_figures_s(text, text, text),
       closeloop_report_overdue_s(text, text, text, int),
       closeloop_report_postmortems_s(text, text, text) TO closeloop_reader;

-- v_open_item with the same columns: the ticket link and the number of
-- links as scalar subqueries in the select list instead of lateral joins,
-- so a panel that only counts items never runs them (PostgreSQL drops
-- unused output columns of a view) and one that lists 20 rows runs them 20
-- times; opened_at from one grouped pass over the 'created' events (a
-- join PostgreSQL removes when nothing reads opened_at) instead of one
-- look-up per item.
CREATE OR REPLACE VIEW v_open_item AS
SELECT v.action_item_id, v.postmortem, v.postmortem_title, v.platform, v.team, v.title, v.type,
       v.priority, v.owner, v.state, v.due_date, v.opened_at,
       floor(extract(epoch FROM now() - v.opened_at) / 86400)::int AS age_days,
       v.days_overdue, v.ownerless, v.undated, v.overdue,
       (now() - v.opened_at > interval '180 days') AS needs_decision,
       (SELECT el.remote_key FROM external_link el WHERE el.action_item_id = v.action_item_id
         ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) AS ticket_key,
       (SELECT el.url FROM external_link el WHERE el.action_item_id = v.action_item_id
         ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) AS ticket_url,
       (SELECT el.state FROM external_link el WHERE el.action_item_id = v.action_item_id
         ORDER BY el.kind = 'managed' DESC, el.id LIMIT 1) AS link_state,
       (SELECT count(*) FROM external_link c WHERE c.action_item_id = v.action_item_id) AS links
  FROM (SELECT i.id AS action_item_id, pm.reference AS postmortem, pm.title AS postmortem_title,
               coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
               i.title, i.type, i.priority, i.owner, i.state, i.due_date,
               coalesce(cr.opened_at, i.created_at) AS opened_at,
               CASE WHEN i.due_date < current_date THEN current_date - i.due_date END AS days_overdue,
               (i.owner IS NULL OR i.owner = '') AS ownerless,
               (i.due_date IS NULL) AS undated,
               coalesce(i.due_date < current_date, false) AS overdue
          FROM action_item i
          JOIN postmortem pm ON pm.id = i.postmortem_id
          LEFT JOIN team t ON t.id = i.team_id
          LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
          LEFT JOIN (SELECT e.action_item_id, min(e.changed_at) AS opened_at FROM item_event e
                      WHERE e.field = 'created' GROUP BY e.action_item_id) cr
                 ON cr.action_item_id = i.id
         WHERE i.state IN ('open', 'in_progress')) v;
-- each item's 'created' event, in item order, read from the index alone
CREATE INDEX item_event_created_idx ON item_event (action_item_id, changed_at)
    WHERE field = 'created';
CREATE INDEX action_item_open_due_idx ON action_item (due_date, id)
    WHERE state IN ('open', 'in_progress');

-- ---- v_overdue_daily: the days that have ended, stored ----
--
-- A day's figures change only through a change dated on or before it that
-- reaches the ledger late (the same rule as for quarters).  The daemon
-- stores each ended day of the 90-day window once
-- (closeloop_report_store_warm); the view reads them, computes today from
-- today's rows (an item's state and due date now are those of its latest
-- events), and computes from item_event only while some ended day of the
-- window is not stored yet (the definition of migration 11).

-- Migration 11's v_overdue_daily, unchanged, under another name (not a
-- dashboard view: the reader role loses it).
ALTER VIEW v_overdue_daily RENAME TO closeloop_overdue_daily_live;
REVOKE SELECT ON closeloop_overdue_daily_live FROM closeloop_reader;

CREATE TABLE overdue_daily_day (
    day         date PRIMARY KEY,
    computed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE overdue_daily_store (
    day      date NOT NULL REFERENCES overdue_daily_day(day) ON DELETE CASCADE,
    platform text NOT NULL,
    team     text NOT NULL,
    open     bigint NOT NULL,
    overdue  bigint NOT NULL
);
CREATE INDEX overdue_daily_store_day_idx ON overdue_daily_store (day);

CREATE VIEW v_overdue_daily AS
WITH w AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS today
), stored AS (
    SELECT count(*) AS n FROM overdue_daily_day, w
     WHERE day BETWEEN w.today - 89 AND w.today - 1
)
SELECT s.day, s.platform, s.team, s.open, s.overdue
  FROM overdue_daily_store s, w
 WHERE s.day BETWEEN w.today - 89 AND w.today - 1
UNION ALL
SELECT w.today, coalesce(pl.name, '(no platform)'), coalesce(tm.name, '(no team)'), count(*),
       count(*) FILTER (WHERE i.due_date < w.today + 1)
  FROM action_item i
  CROSS JOIN w
  JOIN postmortem pm ON pm.id = i.postmortem_id
  LEFT JOIN team tm ON tm.id = i.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, pm.platform_id)
 WHERE i.state IN ('open', 'in_progress')
 GROUP BY w.today, pl.name, tm.name
UNION ALL
SELECT l.day, l.platform, l.team, l.open, l.overdue
  FROM closeloop_overdue_daily_live l, w
 WHERE (SELECT n FROM stored) < 89
   AND l.day < w.today
   AND NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = l.day);

-- Store the ended days of the window that are not stored yet.
CREATE FUNCTION closeloop_overdue_daily_fill() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_missing integer;
BEGIN
    DELETE FROM overdue_daily_day WHERE day < v_today - 89;
    SELECT 89 - count(*) INTO v_missing FROM overdue_daily_day
     WHERE day BETWEEN v_today - 89 AND v_today - 1;
    IF v_missing = 0 THEN
        RETURN 0;
    END IF;
    LOCK TABLE overdue_daily_day IN SHARE ROW EXCLUSIVE MODE;
    CREATE TEMP TABLE IF NOT EXISTS closeloop_od_tmp (day date, platform text, team text,
                                                      open bigint, overdue bigint) ON COMMIT DROP;
    INSERT INTO closeloop_od_tmp
    SELECT l.day, l.platform, l.team, l.open, l.overdue FROM closeloop_overdue_daily_live l
     WHERE l.day < v_today AND NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = l.day);
    INSERT INTO overdue_daily_day (day)
    SELECT g::date FROM generate_series(v_today - 89, v_today - 1, interval '1 day') g
    ON CONFLICT DO NOTHING;
    INSERT INTO overdue_daily_store SELECT * FROM closeloop_od_tmp;
    DROP TABLE closeloop_od_tmp;
    RETURN v_missing;
END $$;

-- A late change dated on day D makes D and every later stored day stale.
CREATE FUNCTION closeloop_overdue_daily_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_min timestamptz;
BEGIN
    SELECT min(changed_at) INTO v_min FROM new_events;
    IF v_min < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
        DELETE FROM overdue_daily_day WHERE day >= (v_min AT TIME ZONE 'UTC')::date;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER item_event_overdue_daily AFTER INSERT ON item_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    EXECUTE FUNCTION closeloop_overdue_daily_event();
CREATE FUNCTION closeloop_overdue_daily_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM overdue_daily_day;
    RETURN NULL;
END $$;
CREATE TRIGGER team_overdue_daily AFTER UPDATE OF name, platform_id OR DELETE ON team
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_overdue_daily_clear();
CREATE TRIGGER platform_overdue_daily AFTER UPDATE OF name OR DELETE ON platform
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_overdue_daily_clear();
CREATE TRIGGER postmortem_overdue_daily AFTER UPDATE OF platform_id OR DELETE ON postmortem
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_overdue_daily_clear();
CREATE TRIGGER action_item_overdue_daily AFTER UPDATE OF postmortem_id OR DELETE ON action_item
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_overdue_daily_clear();

GRANT SELECT ON v_overdue_daily TO closeloop_reader;
