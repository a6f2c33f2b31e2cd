-- 047_overdue_daily_spans.sql — the ended days of v_overdue_daily computed
-- from item_span instead of from item_event (docs/schema.md "Stored
-- figures", docs/report.md "Cost").
--
-- A day of the window that is not stored (a late change dropped it) was
-- computed by closeloop_overdue_daily_live, migration 11's pass with
-- window functions over all of item_event: at 1,000,000 items 127 s to
-- fill one day again and 224 s to read v_overdue_daily meanwhile.  A
-- day's rows are the items open or in progress at the end of that day
-- (UTC), which are the spans of item_span covering that instant: one scan
-- of item_span for any set of days.
--
-- The items at the end of a day are closeloop_items_at's (docs/schema.md
-- "Point in time"): for each field the latest event in ledger order among
-- those dated before the instant, as in migration 8's v_overdue_daily and
-- in the quarterly report.  closeloop_overdue_daily_live orders an item's
-- events by changed_at instead, so it differs where a change reached the
-- ledger after one dated later (and fails on a change dated before the
-- item's creation); it stays, unused by the view, as the old computation.
-- Team and platform are today's, as in closeloop_overdue_daily_live.

-- The rows of v_overdue_daily for the days p_days (ended days; any
-- others are computed the same way, as the ledger stands now), from the
-- open spans covering each day's end.  A span covers the end of day d,
-- (d + 1) 00:00 UTC, when valid_from < it <= valid_to, i.e. for d from
-- valid_from's UTC date to valid_to's minus one.  Internal (not granted).
CREATE FUNCTION closeloop_overdue_daily_spans(p_days date[])
RETURNS TABLE (day date, platform text, team text, open bigint, overdue bigint)
LANGUAGE sql STABLE SET jit = off AS $$
    WITH b AS (
        SELECT min(x) AS lo, max(x) AS hi FROM unnest(p_days) x
    ), s AS (
        SELECT s.action_item_id, s.due_date, d::date AS day
          FROM b, item_span s,
               generate_series(greatest((s.valid_from AT TIME ZONE 'UTC')::date, b.lo),
                               least(CASE WHEN s.valid_to = 'infinity' THEN b.hi
                                          ELSE (s.valid_to AT TIME ZONE 'UTC')::date - 1 END, b.hi),
                               interval '1 day') d
         WHERE s.state IN ('open', 'in_progress')
           AND s.valid_from < (b.hi + 1)::timestamp AT TIME ZONE 'UTC'
           AND s.valid_to >= (b.lo + 1)::timestamp AT TIME ZONE 'UTC'
    )
    SELECT s.day, coalesce(pl.name, '(no platform)'), coalesce(tm.name, '(no team)'),
           count(*), count(*) FILTER (WHERE s.due_date < s.day + 1)
      FROM s
      JOIN action_item i ON i.id = s.action_item_id
      JOIN postmortem pm ON pm.id = i.postmortem_id
      LEFT JOIN team tm ON tm.id = i.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, pm.platform_id)
     WHERE s.day = ANY (p_days)
     GROUP BY s.day, pl.name, tm.name
$$;
REVOKE EXECUTE ON FUNCTION closeloop_overdue_daily_spans(date[]) FROM PUBLIC;

-- Migration 29's function (granted to closeloop_reader), the missing days
-- from the spans.
CREATE OR REPLACE FUNCTION closeloop_overdue_daily_unstored()
RETURNS TABLE (day date, platform text, team text, open bigint, overdue bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT ROWS 100 AS $$
#variable_conflict use_column
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_days date[];
BEGIN
    SELECT array_agg(g::date) INTO v_days
      FROM generate_series(v_today - 89, v_today - 1, interval '1 day') g
     WHERE NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = g::date);
    IF v_days IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM closeloop_overdue_daily_spans(v_days);
END $$;

-- Migration 21's fill, the missing days from the spans.
CREATE OR REPLACE FUNCTION closeloop_overdue_daily_fill() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
    v_days date[];
BEGIN
    DELETE FROM overdue_daily_day WHERE day < v_today - 89;
    SELECT array_agg(g::date) INTO v_days
      FROM generate_series(v_today - 89, v_today - 1, interval '1 day') g
     WHERE NOT EXISTS (SELECT 1 FROM overdue_daily_day d WHERE d.day = g::date);
    IF v_days IS NULL THEN
        RETURN 0;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS closeloop_od_tmp (day date, platform text, team text,
                                                      open bigint, overdue bigint) ON COMMIT DROP;
    INSERT INTO closeloop_od_tmp SELECT * FROM closeloop_overdue_daily_spans(v_days);
    INSERT INTO overdue_daily_day (day) SELECT unnest(v_days) ON CONFLICT DO NOTHING;
    INSERT INTO overdue_daily_store SELECT * FROM closeloop_od_tmp;
    DROP TABLE closeloop_od_tmp;
    RETURN array_length(v_days, 1);
END $$;
