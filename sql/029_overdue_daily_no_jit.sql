-- 029_overdue_daily_no_jit.sql — v_overdue_daily (same columns) without
-- JIT compilation (docs/schema.md, docs/report.md "Cost").
--
-- The view's fallback — computing from item_event the ended days not
-- stored yet — is skipped at run time once every day is stored, but its
-- estimated cost (600,000 at 1,000,000 items) made PostgreSQL JIT-compile
-- the whole plan: 11.7 s of a 12.3 s query that reads 2,250 stored rows.
-- The fallback now runs inside a function, planned only when it is
-- called and some day is missing.

-- The ended days of the 90-day window that are not stored, computed from
-- item_event (closeloop_overdue_daily_live); none when all are stored.
CREATE FUNCTION closeloop_overdue_daily_unstored()
RETURNS TABLE (day date, platform text, team text, open bigint, overdue bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT ROWS 100 AS $$
#variable_conflict use_column
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    IF (SELECT count(*) FROM overdue_daily_day d WHERE d.day BETWEEN v_today - 89 AND v_today - 1) >= 89 THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT l.day, l.platform, l.team, l.open, l.overdue FROM closeloop_overdue_daily_live l
     WHERE l.day < v_today AND NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = l.day);
END $$;
REVOKE EXECUTE ON FUNCTION closeloop_overdue_daily_unstored() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION closeloop_overdue_daily_unstored() TO closeloop_reader;

CREATE OR REPLACE VIEW v_overdue_daily AS
WITH w AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS today
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
SELECT u.day, u.platform, u.team, u.open, u.overdue FROM closeloop_overdue_daily_unstored() u;
