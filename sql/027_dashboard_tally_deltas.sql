-- 027_dashboard_tally_deltas.sql — migration 24's tallies written without
-- row locks (docs/schema.md "Open item and link tallies").
--
-- Migration 24 kept one row per tally key and updated it in place (INSERT
-- … ON CONFLICT DO UPDATE): two transactions changing items of the same
-- team waited for each other's commit on that row, and two that touched
-- two keys in opposite orders (an import and a reconcile batch) could
-- deadlock.  Now every change appends its +1/-1 rows (no key, no lock:
-- concurrent writers never wait for each other), the views sum them, and
-- closeloop_tally_compact() folds each key's rows into one: the daemon
-- calls it at each quarterly check (quarterly_report.check_interval,
-- default an hour), so a view sums the compacted rows plus the changes
-- since.  Compacting deletes and re-inserts in one statement, so readers
-- see the same sums before and after, and writers are not blocked.

ALTER TABLE open_item_due_tally DROP CONSTRAINT open_item_due_tally_pkey;
ALTER TABLE open_item_age_tally DROP CONSTRAINT open_item_age_tally_pkey;
ALTER TABLE link_tally DROP CONSTRAINT link_tally_pkey;
CREATE INDEX open_item_age_tally_key_idx ON open_item_age_tally (pm_platform_id, team_id, opened_day);

CREATE OR REPLACE FUNCTION closeloop_open_tally_add(p_keys open_item_key[], p_sign integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO open_item_due_tally (pm_platform_id, team_id, due_date, n, ownerless)
    SELECT k.pm_platform_id, k.team_id, k.due_date, p_sign * count(*),
           p_sign * count(*) FILTER (WHERE k.ownerless)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3;
    INSERT INTO open_item_age_tally (pm_platform_id, team_id, opened_day, n)
    SELECT k.pm_platform_id, k.team_id, (k.opened_at AT TIME ZONE 'UTC')::date, p_sign * count(*)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3;
$$;

CREATE OR REPLACE FUNCTION closeloop_link_tally_add(p_keys link_key[], p_sign integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO link_tally (connector, target, kind, state, in_sync, error_count, n)
    SELECT k.connector, k.target, k.kind, k.state, k.in_sync, k.error_count, p_sign * count(*)
      FROM unnest(p_keys) k GROUP BY 1, 2, 3, 4, 5, 6;
$$;

-- closeloop_open_tally_refresh without the in-place clean-up of keys that
-- reached 0 (closeloop_tally_compact drops them).
CREATE OR REPLACE FUNCTION closeloop_open_tally_refresh(p_ids bigint[])
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
END $$;

-- Fold every tally's rows into one per key (keys summing to 0 dropped).
-- Returns the number of rows removed.
CREATE FUNCTION closeloop_tally_compact()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_before bigint;
    v_after bigint;
BEGIN
    SELECT (SELECT count(*) FROM open_item_due_tally) + (SELECT count(*) FROM open_item_age_tally)
           + (SELECT count(*) FROM link_tally) INTO v_before;
    WITH d AS (DELETE FROM open_item_due_tally RETURNING *)
    INSERT INTO open_item_due_tally
    SELECT pm_platform_id, team_id, due_date, sum(n), sum(ownerless) FROM d
     GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(ownerless) <> 0;
    WITH d AS (DELETE FROM open_item_age_tally RETURNING *)
    INSERT INTO open_item_age_tally
    SELECT pm_platform_id, team_id, opened_day, sum(n) FROM d GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    WITH d AS (DELETE FROM link_tally RETURNING *)
    INSERT INTO link_tally
    SELECT connector, target, kind, state, in_sync, error_count, sum(n) FROM d
     GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0;
    SELECT (SELECT count(*) FROM open_item_due_tally) + (SELECT count(*) FROM open_item_age_tally)
           + (SELECT count(*) FROM link_tally) INTO v_after;
    RETURN v_before - v_after;
END $$;

-- v_link_sync_by_target over several rows per key: a key's rows are summed
-- before its error count can be the highest (a link that left error count
-- 3 leaves a +1 and a -1 row for it).
CREATE OR REPLACE VIEW v_link_sync_by_target AS
SELECT t.connector, t.target, t.kind, sum(t.n)::bigint AS links,
       coalesce(sum(t.n) FILTER (WHERE t.in_sync), 0)::bigint AS in_sync,
       coalesce(sum(t.n) FILTER (WHERE t.state = 'broken'), 0)::bigint AS broken,
       coalesce(sum(t.n) FILTER (WHERE t.state = 'creating'), 0)::bigint AS creating,
       max(t.error_count) AS max_error_count, c.last_run_at
  FROM (SELECT connector, target, kind, state, in_sync, error_count, sum(n) AS n FROM link_tally
         GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) > 0) t
  LEFT JOIN sync_cursor c ON c.connector = t.connector AND c.target = t.target
 GROUP BY t.connector, t.target, t.kind, c.last_run_at;
