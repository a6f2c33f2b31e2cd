-- demo-history.sql — a GENERATED history for the demo's quarterly report.
--
-- The demo imports the real postmortems of examples/postmortems into a
-- second ledger, each with closeloop.changed_at set to a generated
-- publication time spread over the five quarters before today's (the
-- real documents are from 2019-2025, and their items carry no history).
-- This script then plays a generated life for every action item, through
-- ordinary UPDATEs whose item_event rows carry a generated changed_at:
-- due dates set and moved, items closed as done or won't do, some
-- reopened, some left open.  The rule is a fixed function of the item's
-- id, so every run gives the same history.  Nothing here is real data
-- about these postmortems' follow-ups: it exists to show the report.
DO $$
DECLARE
    it     record;
    h      int;
    t_due  timestamptz;
    t_end  timestamptz;
BEGIN
    FOR it IN
        SELECT i.id, i.state, i.due_date, e.changed_at AS opened_at
          FROM action_item i
          JOIN item_event e ON e.action_item_id = i.id AND e.field = 'created'
         ORDER BY i.id
    LOOP
        h := (it.id * 7919) % 100;
        -- a due date agreed a day after the postmortem (two items in three)
        t_due := it.opened_at + interval '1 day';
        IF it.due_date IS NULL AND h % 3 <> 0 AND t_due < now() THEN
            PERFORM set_config('closeloop.changed_at', t_due::text, true);
            UPDATE action_item SET due_date = (it.opened_at + make_interval(days => (30 + (it.id * 13) % 60)::int))::date
             WHERE id = it.id;
        END IF;
        -- one in ten has its due date moved three weeks later
        IF h % 10 = 7 AND it.opened_at + interval '20 days' < now() THEN
            PERFORM set_config('closeloop.changed_at', (it.opened_at + interval '20 days')::text, true);
            UPDATE action_item SET due_date = due_date + 45 WHERE id = it.id AND due_date IS NOT NULL;
        END IF;
        CONTINUE WHEN it.state IN ('done', 'wont_do');   -- the document says it is closed
        t_end := it.opened_at + make_interval(days => (10 + (it.id * 37) % 150)::int, hours => ((it.id * 5) % 24)::int);
        CONTINUE WHEN t_end >= now();
        IF h < 50 THEN
            PERFORM set_config('closeloop.changed_at', t_end::text, true);
            UPDATE action_item SET state = 'done' WHERE id = it.id;
        ELSIF h < 60 THEN
            PERFORM set_config('closeloop.changed_at', t_end::text, true);
            UPDATE action_item SET state = 'wont_do' WHERE id = it.id;
        ELSIF h < 66 THEN
            -- closed, then reopened three weeks later
            PERFORM set_config('closeloop.changed_at', t_end::text, true);
            UPDATE action_item SET state = 'done' WHERE id = it.id;
            IF t_end + interval '21 days' < now() THEN
                PERFORM set_config('closeloop.changed_at', (t_end + interval '21 days')::text, true);
                UPDATE action_item SET state = 'open' WHERE id = it.id;
            END IF;
        ELSIF h < 75 THEN
            PERFORM set_config('closeloop.changed_at', t_end::text, true);
            UPDATE action_item SET state = 'in_progress' WHERE id = it.id;
        END IF;
    END LOOP;
END $$;
