-- 035_escalated_label_per_rung.sql — the closeloop:escalated ticket label
-- is an action of an escalation rung, not a flag kind.
--
-- Issue 10 lists the actions of a rung: a comment on the item's tickets
-- "plus an `escalated` label where the tracker has labels", a chat digest,
-- a mail.  Until now the label came from flags.labels ("escalated" among
-- the flag kinds) for every rung at once.  Now each rung says whether it
-- labels (escalation.rungs.[].channels "label"), and the daemon passes
-- those rungs' names in p_opts "escalated_rungs": a managed, linked ticket
-- of a connector with labels gets '<prefix>escalated' while an escalation
-- of one of those rungs was sent (any channel) for a flag still open, and
-- loses it when the flag clears.  "escalated" in p_opts "kinds" still
-- means every rung, so a daemon of the previous version keeps working
-- against this ledger during a rolling upgrade.
--
-- closeloop_labels_plan of 013 with that one change.  Documented in
-- docs/schema.md ("Flags and escalation") and docs/configuration.md.

CREATE OR REPLACE FUNCTION closeloop_labels_plan(p_now timestamptz, p_opts jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_prefix text := coalesce(p_opts->>'prefix', 'closeloop:');
    v_kinds text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_opts->'kinds', '[]')));
    v_rungs text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_opts->'escalated_rungs', '[]')));
    v_conns text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_opts->'connectors', '[]')));
    v_n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7164223648653143923); -- "closelop" + 3: labels
    WITH want AS (
        SELECT l.id AS link_id, v_prefix || f.kind AS label
          FROM item_flag f
          JOIN external_link l ON l.action_item_id = f.action_item_id
         WHERE f.cleared_at IS NULL AND f.kind = ANY (v_kinds)
           AND l.kind = 'managed' AND l.state = 'linked' AND l.connector = ANY (v_conns)
        UNION
        SELECT l.id, v_prefix || 'escalated'
          FROM escalation e
          JOIN item_flag f ON f.id = e.flag_id AND f.cleared_at IS NULL
          JOIN external_link l ON l.action_item_id = e.action_item_id
         WHERE ('escalated' = ANY (v_kinds) OR e.rung = ANY (v_rungs)) AND e.state = 'sent'
           AND l.kind = 'managed' AND l.state = 'linked' AND l.connector = ANY (v_conns)
    ), up AS (
        INSERT INTO ticket_label AS t (link_id, label, want, changed_at)
        SELECT w.link_id, w.label, true, v_now FROM want w
        ON CONFLICT (link_id, label) DO UPDATE
           SET want = true, attempts = 0, last_error = NULL, changed_at = v_now
         WHERE NOT t.want
        RETURNING 1
    ), down AS (
        UPDATE ticket_label t SET want = false, attempts = 0, last_error = NULL, changed_at = v_now
         WHERE t.want
           AND NOT EXISTS (SELECT 1 FROM want w WHERE w.link_id = t.link_id AND w.label = t.label)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM down) INTO v_n;
    RETURN v_n;
END $$;
