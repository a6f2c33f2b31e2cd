-- 024_dashboard_tally.sql — the dashboards' counts of open action items
-- kept as tallies, so a panel reads a few thousand rows instead of every
-- open item (docs/schema.md "Dashboard views", "Open item tallies";
-- figures in docs/report.md "Cost").
--
-- open_item_key holds, for every open or in-progress action item, the keys
-- it is counted under; the two tallies count those rows:
--   open_item_due_tally  per (postmortem's platform, team, due date):
--                        open items and how many have no owner
--   open_item_age_tally  per (postmortem's platform, team, UTC day opened)
-- Statement triggers refresh the keys of the items a statement touched
-- (subtract what was counted, count what is true now), so the tallies are
-- exact after every committed statement; time-dependent figures (overdue,
-- needs a decision) are cut at read time by the views.  Names and the
-- team's platform are joined at read time (today's, as everywhere).
-- 0 stands for "none" in pm_platform_id and team_id; 'infinity' for no
-- due date.

CREATE TABLE open_item_key (
    action_item_id bigint PRIMARY KEY,
    pm_platform_id bigint NOT NULL,
    team_id        bigint NOT NULL,
    due_date       date NOT NULL,
    opened_at      timestamptz NOT NULL,
    ownerless      boolean NOT NULL
);
CREATE TABLE open_item_due_tally (
    pm_platform_id bigint NOT NULL,
    team_id        bigint NOT NULL,
    due_date       date NOT NULL,
    n              bigint NOT NULL,
    ownerless      bigint NOT NULL,
    PRIMARY KEY (pm_platform_id, team_id, due_date)
);
CREATE TABLE open_item_age_tally (
    pm_platform_id bigint NOT NULL,
    team_id        bigint NOT NULL,
    opened_day     date NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (pm_platform_id, team_id, opened_day)
);
-- the items opened on one day (needs_decision's cut inside a day)
CREATE INDEX open_item_key_opened_idx ON open_item_key (opened_at);

-- What an open item is counted under, as v_open_item defines it:
-- opened_at = its 'created' event's changed_at, else created_at.
CREATE FUNCTION closeloop_open_item_keys(p_ids bigint[])
RETURNS SETOF open_item_key LANGUAGE sql STABLE AS $$
    SELECT i.id, coalesce(pm.platform_id, 0), coalesce(i.team_id, 0),
           coalesce(i.due_date, 'infinity'::date),
           coalesce((SELECT min(e.changed_at) FROM item_event e
                      WHERE e.action_item_id = i.id AND e.field = 'created'), i.created_at),
           (i.owner IS NULL OR i.owner = '')
      FROM action_item i
      JOIN postmortem pm ON pm.id = i.postmortem_id
     WHERE i.id = ANY (p_ids) AND i.state IN ('open', 'in_progress')
$$;

-- Add p_sign (1 or -1) times the given key rows to both tallies.
CREATE FUNCTION closeloop_open_tally_add(p_keys open_item_key[], p_sign integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO open_item_due_tally AS t (pm_platform_id, team_id, due_date, n, ownerless)
    SELECT k.pm_platform_id, k.team_id, k.due_date, p_sign * count(*),
           p_sign * count(*) FILTER (WHERE k.ownerless)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (pm_platform_id, team_id, due_date)
    DO UPDATE SET n = t.n + excluded.n, ownerless = t.ownerless + excluded.ownerless;
    INSERT INTO open_item_age_tally AS t (pm_platform_id, team_id, opened_day, n)
    SELECT k.pm_platform_id, k.team_id, (k.opened_at AT TIME ZONE 'UTC')::date, p_sign * count(*)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (pm_platform_id, team_id, opened_day) DO UPDATE SET n = t.n + excluded.n;
$$;

-- Count the items p_ids as they are now: what was counted for them is
-- subtracted, what is true now added (only the items whose keys changed).
CREATE FUNCTION closeloop_open_tally_refresh(p_ids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_old open_item_key[];
    v_new open_item_key[];
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    v_new := ARRAY(SELECT k FROM closeloop_open_item_keys(p_ids) k);
    WITH gone AS (
        DELETE FROM open_item_key o
         WHERE o.action_item_id = ANY (p_ids)
           AND NOT (o IN (SELECT n FROM unnest(v_new) n))
        RETURNING o.*
    )
    SELECT array_agg(g::open_item_key) INTO v_old FROM gone g;
    v_new := ARRAY(SELECT n FROM unnest(v_new) n
                    WHERE NOT EXISTS (SELECT 1 FROM open_item_key o
                                       WHERE o.action_item_id = n.action_item_id));
    INSERT INTO open_item_key SELECT * FROM unnest(v_new);
    IF v_old IS NOT NULL THEN
        PERFORM closeloop_open_tally_add(v_old, -1);
    END IF;
    IF cardinality(v_new) > 0 THEN
        PERFORM closeloop_open_tally_add(v_new, 1);
    END IF;
    DELETE FROM open_item_due_tally WHERE n = 0 AND (pm_platform_id, team_id, due_date) IN
        (SELECT k.pm_platform_id, k.team_id, k.due_date FROM unnest(v_old) k);
    DELETE FROM open_item_age_tally WHERE n = 0 AND (pm_platform_id, team_id, opened_day) IN
        (SELECT k.pm_platform_id, k.team_id, (k.opened_at AT TIME ZONE 'UTC')::date FROM unnest(v_old) k);
END $$;

-- Everything counted again (after a backfill written with triggers off,
-- e.g. tests/bench/report_bench.sh; and by this migration).
CREATE FUNCTION closeloop_open_tally_rebuild()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_n bigint;
BEGIN
    LOCK TABLE open_item_key IN EXCLUSIVE MODE;
    TRUNCATE open_item_key, open_item_due_tally, open_item_age_tally;
    INSERT INTO open_item_key
    SELECT i.id, coalesce(pm.platform_id, 0), coalesce(i.team_id, 0),
           coalesce(i.due_date, 'infinity'::date), coalesce(cr.opened_at, i.created_at),
           (i.owner IS NULL OR i.owner = '')
      FROM action_item i
      JOIN postmortem pm ON pm.id = i.postmortem_id
      LEFT JOIN (SELECT e.action_item_id, min(e.changed_at) AS opened_at FROM item_event e
                  WHERE e.field = 'created' GROUP BY e.action_item_id) cr ON cr.action_item_id = i.id
     WHERE i.state IN ('open', 'in_progress');
    GET DIAGNOSTICS v_n = ROW_COUNT;
    INSERT INTO open_item_due_tally
    SELECT pm_platform_id, team_id, due_date, count(*), count(*) FILTER (WHERE ownerless)
      FROM open_item_key GROUP BY 1, 2, 3;
    INSERT INTO open_item_age_tally
    SELECT pm_platform_id, team_id, (opened_at AT TIME ZONE 'UTC')::date, count(*)
      FROM open_item_key GROUP BY 1, 2, 3;
    RETURN v_n;
END $$;

-- ---- triggers: the items a statement touched ----

CREATE FUNCTION closeloop_open_tally_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM closeloop_open_tally_refresh(ARRAY(SELECT id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM closeloop_open_tally_refresh(ARRAY(SELECT id FROM old_rows));
    ELSE
        -- only rows whose counted columns changed (most updates are syncs)
        PERFORM closeloop_open_tally_refresh(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE (n.state IN ('open', 'in_progress')) <> (o.state IN ('open', 'in_progress'))
                OR n.team_id IS DISTINCT FROM o.team_id OR n.due_date IS DISTINCT FROM o.due_date
                OR n.owner IS DISTINCT FROM o.owner OR n.postmortem_id <> o.postmortem_id
                OR n.created_at <> o.created_at
            UNION
            SELECT o.id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER action_item_open_tally_ins AFTER INSERT ON action_item
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION closeloop_open_tally_item();
CREATE TRIGGER action_item_open_tally_upd AFTER UPDATE ON action_item
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_open_tally_item();
CREATE TRIGGER action_item_open_tally_del AFTER DELETE ON action_item
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION closeloop_open_tally_item();

-- A 'created' event written for an item already counted (a backfill)
-- moves its opened_at; new items are counted by the item triggers.
CREATE FUNCTION closeloop_open_tally_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_open_tally_refresh(ARRAY(
        SELECT DISTINCT e.action_item_id FROM new_events e
          JOIN open_item_key k ON k.action_item_id = e.action_item_id
         WHERE e.field = 'created'));
    RETURN NULL;
END $$;
CREATE TRIGGER item_event_open_tally AFTER INSERT ON item_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION closeloop_open_tally_event();

-- A postmortem moved to another platform moves its open items.
CREATE FUNCTION closeloop_open_tally_postmortem() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_open_tally_refresh(ARRAY(
        SELECT k.action_item_id FROM open_item_key k
          JOIN new_pms n ON n.id = (SELECT i.postmortem_id FROM action_item i WHERE i.id = k.action_item_id)
          JOIN old_pms o ON o.id = n.id
         WHERE n.platform_id IS DISTINCT FROM o.platform_id));
    RETURN NULL;
END $$;
CREATE TRIGGER postmortem_open_tally AFTER UPDATE ON postmortem
    REFERENCING OLD TABLE AS old_pms NEW TABLE AS new_pms
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_open_tally_postmortem();

SELECT closeloop_open_tally_rebuild();

-- ---- views ----

-- Open action items per platform and team with their flags, from the
-- tallies: the same figures as counting v_open_item (open, overdue,
-- ownerless, undated, needs_decision have v_open_item's definitions: due
-- before current_date; no owner or ''; no due date; opened more than 180
-- days (of 24 h) before now()).
CREATE VIEW v_open_by_team AS
WITH w AS (
    SELECT current_date AS today, now() - interval '4320 hours' AS cut,
           ((now() - interval '4320 hours') AT TIME ZONE 'UTC')::date AS cut_day
), d AS (
    SELECT t.pm_platform_id, t.team_id, sum(t.n) AS open,
           sum(t.n) FILTER (WHERE t.due_date < w.today) AS overdue,
           sum(t.ownerless) AS ownerless,
           sum(t.n) FILTER (WHERE t.due_date = 'infinity') AS undated
      FROM open_item_due_tally t, w GROUP BY 1, 2
), a AS (
    SELECT t.pm_platform_id, t.team_id, t.n
      FROM open_item_age_tally t, w WHERE t.opened_day < w.cut_day
    UNION ALL
    SELECT k.pm_platform_id, k.team_id, 1
      FROM open_item_key k, w
     WHERE k.opened_at >= w.cut_day::timestamp AT TIME ZONE 'UTC' AND k.opened_at < w.cut
), x AS (
    SELECT d.*, coalesce(ag.old, 0) AS needs_decision
      FROM d
      LEFT JOIN (SELECT a.pm_platform_id, a.team_id, sum(a.n) AS old FROM a GROUP BY 1, 2) ag
             ON ag.pm_platform_id = d.pm_platform_id AND ag.team_id = d.team_id
)
SELECT coalesce(pl.name, '(no platform)') AS platform, coalesce(t.name, '(no team)') AS team,
       sum(x.open)::bigint AS open, coalesce(sum(x.overdue), 0)::bigint AS overdue,
       sum(x.ownerless)::bigint AS ownerless, coalesce(sum(x.undated), 0)::bigint AS undated,
       sum(x.needs_decision)::bigint AS needs_decision
  FROM x
  LEFT JOIN team t ON t.id = nullif(x.team_id, 0)
  LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, nullif(x.pm_platform_id, 0))
 GROUP BY 1, 2
HAVING sum(x.open) > 0;

-- v_overdue_daily (same columns): today's row from the tallies instead of
-- a scan of every open item; the ended days as in migration 19.
CREATE OR REPLACE VIEW v_overdue_daily AS
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
SELECT w.today, coalesce(pl.name, '(no platform)'), coalesce(tm.name, '(no team)'), sum(d.n)::bigint,
       coalesce(sum(d.n) FILTER (WHERE d.due_date < w.today + 1), 0)::bigint
  FROM open_item_due_tally d
  CROSS JOIN w
  LEFT JOIN team tm ON tm.id = nullif(d.team_id, 0)
  LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, nullif(d.pm_platform_id, 0))
 GROUP BY w.today, pl.name, tm.name
HAVING sum(d.n) > 0
UNION ALL
SELECT l.day, l.platform, l.team, l.open, l.overdue
  FROM closeloop_overdue_daily_live l, w
 WHERE (SELECT n FROM stored) < 89
   AND l.day < w.today
   AND NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = l.day);

GRANT SELECT ON v_open_by_team TO closeloop_reader;

-- ---- tracker links per target (the sync health panel) ----
--
-- link_key holds, for every link, what it is counted under; link_tally
-- counts them per (connector, target, kind, state, in sync, error count).
-- in_sync has v_link_sync's definition (managed, linked, synced_version =
-- the item's version), so an item whose version moves refreshes its links.

CREATE TABLE link_key (
    link_id     bigint PRIMARY KEY,
    connector   text NOT NULL,
    target      text NOT NULL,
    kind        text NOT NULL,
    state       text NOT NULL,
    in_sync     boolean NOT NULL,
    error_count integer NOT NULL
);
CREATE TABLE link_tally (
    connector   text NOT NULL,
    target      text NOT NULL,
    kind        text NOT NULL,
    state       text NOT NULL,
    in_sync     boolean NOT NULL,
    error_count integer NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (connector, target, kind, state, in_sync, error_count)
);

CREATE FUNCTION closeloop_link_keys(p_ids bigint[])
RETURNS SETOF link_key LANGUAGE sql STABLE AS $$
    SELECT l.id, l.connector, l.target, l.kind, l.state,
           (l.kind = 'managed' AND l.state = 'linked' AND l.synced_version = i.version),
           l.error_count
      FROM external_link l JOIN action_item i ON i.id = l.action_item_id
     WHERE l.id = ANY (p_ids)
$$;

CREATE FUNCTION closeloop_link_tally_add(p_keys link_key[], p_sign integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO link_tally AS t (connector, target, kind, state, in_sync, error_count, n)
    SELECT k.connector, k.target, k.kind, k.state, k.in_sync, k.error_count, p_sign * count(*)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (connector, target, kind, state, in_sync, error_count) DO UPDATE SET n = t.n + excluded.n;
    DELETE FROM link_tally t WHERE t.n = 0 AND (t.connector, t.target, t.kind, t.state, t.in_sync, t.error_count)
        IN (SELECT k.connector, k.target, k.kind, k.state, k.in_sync, k.error_count FROM unnest(p_keys) k);
$$;

-- Count the links p_ids as they are now (see closeloop_open_tally_refresh).
CREATE FUNCTION closeloop_link_tally_refresh(p_ids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_old link_key[];
    v_new link_key[];
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    v_new := ARRAY(SELECT k FROM closeloop_link_keys(p_ids) k);
    WITH gone AS (
        DELETE FROM link_key o
         WHERE o.link_id = ANY (p_ids) AND NOT (o IN (SELECT n FROM unnest(v_new) n))
        RETURNING o.*
    )
    SELECT array_agg(g::link_key) INTO v_old FROM gone g;
    v_new := ARRAY(SELECT n FROM unnest(v_new) n
                    WHERE NOT EXISTS (SELECT 1 FROM link_key o WHERE o.link_id = n.link_id));
    INSERT INTO link_key SELECT * FROM unnest(v_new);
    IF v_old IS NOT NULL THEN
        PERFORM closeloop_link_tally_add(v_old, -1);
    END IF;
    IF cardinality(v_new) > 0 THEN
        PERFORM closeloop_link_tally_add(v_new, 1);
    END IF;
END $$;

CREATE FUNCTION closeloop_link_tally_rebuild()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_n bigint;
BEGIN
    LOCK TABLE link_key IN EXCLUSIVE MODE;
    TRUNCATE link_key, link_tally;
    INSERT INTO link_key
    SELECT l.id, l.connector, l.target, l.kind, l.state,
           (l.kind = 'managed' AND l.state = 'linked' AND l.synced_version = i.version), l.error_count
      FROM external_link l JOIN action_item i ON i.id = l.action_item_id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    INSERT INTO link_tally
    SELECT connector, target, kind, state, in_sync, error_count, count(*) FROM link_key
     GROUP BY 1, 2, 3, 4, 5, 6;
    RETURN v_n;
END $$;

CREATE FUNCTION closeloop_link_tally_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM closeloop_link_tally_refresh(ARRAY(SELECT id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM closeloop_link_tally_refresh(ARRAY(SELECT id FROM old_rows));
    ELSE
        PERFORM closeloop_link_tally_refresh(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE (n.connector, n.target, n.kind, n.state, n.synced_version, n.error_count, n.action_item_id)
                   IS DISTINCT FROM
                   (o.connector, o.target, o.kind, o.state, o.synced_version, o.error_count, o.action_item_id)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER external_link_tally_ins AFTER INSERT ON external_link
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION closeloop_link_tally_link();
CREATE TRIGGER external_link_tally_upd AFTER UPDATE ON external_link
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_link_tally_link();
CREATE TRIGGER external_link_tally_del AFTER DELETE ON external_link
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION closeloop_link_tally_link();

-- an item's version moves its links' in_sync
CREATE FUNCTION closeloop_link_tally_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_link_tally_refresh(ARRAY(
        SELECT l.id FROM new_rows n JOIN old_rows o ON o.id = n.id
          JOIN external_link l ON l.action_item_id = n.id
         WHERE n.version IS DISTINCT FROM o.version));
    RETURN NULL;
END $$;
CREATE TRIGGER action_item_link_tally AFTER UPDATE ON action_item
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION closeloop_link_tally_item();

SELECT closeloop_link_tally_rebuild();

-- Links per connector, target and kind with how their sync stands, from
-- the tally: the same figures as grouping v_link_sync by connector,
-- target and kind (links; in_sync; broken, creating = state; the highest
-- error_count; last_run_at = the target's sync cursor's).
CREATE VIEW v_link_sync_by_target AS
SELECT t.connector, t.target, t.kind, sum(t.n)::bigint AS links,
       coalesce(sum(t.n) FILTER (WHERE t.in_sync), 0)::bigint AS in_sync,
       coalesce(sum(t.n) FILTER (WHERE t.state = 'broken'), 0)::bigint AS broken,
       coalesce(sum(t.n) FILTER (WHERE t.state = 'creating'), 0)::bigint AS creating,
       max(t.error_count) AS max_error_count, c.last_run_at
  FROM link_tally t
  LEFT JOIN sync_cursor c ON c.connector = t.connector AND c.target = t.target
 WHERE t.n > 0
 GROUP BY t.connector, t.target, t.kind, c.last_run_at;

GRANT SELECT ON v_link_sync_by_target TO closeloop_reader;
