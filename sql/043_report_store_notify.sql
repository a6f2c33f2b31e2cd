-- 043_report_store_notify.sql — stored figures dropped by a late change are
-- stored again at once, not at the daemon's next quarterly check
-- (docs/schema.md "Stored figures", docs/report.md "Cost").
--
-- A change dated before the current quarter (a ticket's update pulled
-- late, a backdated edit, an item closed with an earlier date) drops the
-- stored figures of the quarters ending after it (migration 21's trigger),
-- and one dated before today the stored days of v_overdue_daily; until
-- they are stored again the dashboards compute them when read: at
-- 1,000,000 items 450-640 ms for each v_closure_by_quarter panel with one
-- ended quarter dropped, 1.0-1.6 s with the current quarter's snapshot
-- gone too, minutes for v_overdue_daily with one day gone.  The daemon
-- stored them again only at its next quarterly check, up to an hour later.
--
-- Now:
--   * a statement that deletes stored figures of ended quarters
--     (report_store_key rows that are not the current quarter's snapshot)
--     or stored days of v_overdue_daily's window NOTIFYs channel
--     closeloop_report_store (payload 'quarters' or 'days'; nothing when
--     it deleted none), whichever trigger or person deleted them, and the
--     daemon stores them again a short debounce later
--     (quarterly_report.store_debounce_ms);
--   * a late change no longer drops the current quarter's snapshot: like
--     a change dated now, it shows there at the snapshot's next refresh
--     (which the daemon's store run does), instead of the view computing
--     the current quarter at every read in the meantime;
--   * closeloop_report_store_quarters() is the quarters' part of
--     closeloop_report_store_warm() (every ended quarter not stored, the
--     last one's lists, a new snapshot of the current quarter), so the
--     daemon commits the quarters before it fills the days (which computes
--     from item_event: 2 min at 1,000,000 items for one missing day); it
--     returns the ended quarters it computed (0 when all were stored);
--     closeloop_report_store_warm() calls it and then
--     closeloop_overdue_daily_fill(), and returns the same number (it
--     returned the quarters computed or already stored).
--
-- The daemon takes the session advisory lock 7164223648653143924
-- ("closelop" + 4) around both, so two daemons never compute the same
-- figures at once (daemon/report/quarterly.h).

CREATE FUNCTION closeloop_report_store_quarters()
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q text;
    n integer := 0;
BEGIN
    -- a quarter still stored is not computed again (the key's index)
    FOR q IN SELECT closeloop_quarter_of(g)
               FROM generate_series(date_trunc('quarter', (SELECT min(changed_at) FROM item_event
                                                            WHERE field = 'created')
                                                          AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                    now() - interval '3 months', interval '3 months') g
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM report_store_key k
                               WHERE k.kind = 'figures' AND k.quarter = q AND k.f_platform = ''
                                 AND k.f_team = '' AND k.f_limit = 0 AND NOT k.snapshot);
        IF closeloop_report_store_fill(q, NULL, NULL, 10, false) THEN
            n := n + 1;
        END IF;
    END LOOP;
    PERFORM closeloop_report_store_fill(closeloop_quarter_add(closeloop_quarter_of(now()), -1));
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

CREATE OR REPLACE FUNCTION closeloop_report_store_warm()
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := closeloop_report_store_quarters();
BEGIN
    PERFORM closeloop_overdue_daily_fill();
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION closeloop_report_store_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_min timestamptz;
BEGIN
    SELECT min(changed_at) INTO v_min FROM new_events;
    IF v_min < closeloop_quarter_start(closeloop_quarter_of(now())) THEN
        -- rows a fill is replacing right now are locked: skip them, never
        -- wait; the current quarter's snapshot stays (as for a change dated now)
        DELETE FROM report_store_key WHERE id IN
            (SELECT id FROM report_store_key WHERE q_end > v_min AND NOT snapshot
                FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NULL;
END $$;

-- ---- telling the daemon ----
--
-- Statement triggers on the stored keys themselves, so every way of
-- dropping them counts (the late-change and rename triggers, an operator's
-- DELETE); not the store's own upkeep: a snapshot replaced, a day that
-- left the 90-day window.

CREATE FUNCTION closeloop_report_store_key_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone WHERE NOT snapshot) THEN
        PERFORM pg_notify('closeloop_report_store', 'quarters');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER report_store_key_gone AFTER DELETE ON report_store_key
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION closeloop_report_store_key_gone();

CREATE FUNCTION closeloop_overdue_daily_day_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone WHERE day >= (now() AT TIME ZONE 'UTC')::date - 89) THEN
        PERFORM pg_notify('closeloop_report_store', 'days');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER overdue_daily_day_gone AFTER DELETE ON overdue_daily_day
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION closeloop_overdue_daily_day_gone();
