-- 021_report_store_locks.sql — the stored figures of migration 19 without
-- table locks (docs/schema.md "Stored figures").  Migration 19's fills took
-- SHARE ROW EXCLUSIVE locks so that a late change would wait for them; an
-- import's postmortem update (whose trigger drops stored figures) then
-- waited for the daemon's warm-up, and the two deadlocked
-- (test_import_watch_large_file_does_not_stall_the_loop).  Now the
-- invalidating triggers never wait: they skip rows a fill is replacing at
-- that moment (FOR UPDATE SKIP LOCKED), and the fills take no table lock.
-- The price: a late change committed while a fill of the same quarter or
-- day runs may leave that fill's figures stored until the next late
-- change or rename drops them.

CREATE OR REPLACE FUNCTION closeloop_report_store_fill(p_quarter text, p_platform text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION closeloop_report_store_warm()
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

CREATE OR REPLACE FUNCTION closeloop_report_store_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_min timestamptz;
BEGIN
    SELECT min(changed_at) INTO v_min FROM new_events;
    IF v_min < closeloop_quarter_start(closeloop_quarter_of(now())) THEN
        -- rows a fill is replacing right now are locked: skip them, never wait
        DELETE FROM report_store_key WHERE id IN
            (SELECT id FROM report_store_key WHERE q_end > v_min FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION closeloop_report_store_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_store_key WHERE id IN
        (SELECT id FROM report_store_key FOR UPDATE SKIP LOCKED);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION closeloop_overdue_daily_fill() RETURNS integer LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION closeloop_overdue_daily_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_min timestamptz;
BEGIN
    SELECT min(changed_at) INTO v_min FROM new_events;
    IF v_min < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
        DELETE FROM overdue_daily_day WHERE day IN
            (SELECT day FROM overdue_daily_day WHERE day >= (v_min AT TIME ZONE 'UTC')::date
                FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION closeloop_overdue_daily_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM overdue_daily_day WHERE day IN
        (SELECT day FROM overdue_daily_day FOR UPDATE SKIP LOCKED);
    RETURN NULL;
END $$;
