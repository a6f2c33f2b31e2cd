-- 015_escalation_identity.sql — the escalation claim also returns the
-- ticket's remote_id (ServiceNow writes a work note to the record by its
-- sys_id) and the recipient's whole directory row (r_person), so the sender
-- mentions the platform lead in the tracker's own identity column
-- (connector registry: person_ident; GitHub github_login, ServiceNow
-- servicenow_sys_id).  The columns of 012 are unchanged and come first.

DROP FUNCTION closeloop_escalation_claim(timestamptz, text, integer, integer);

CREATE FUNCTION closeloop_escalation_claim(p_now timestamptz, p_by text, p_limit integer,
                                           p_lease_s integer)
RETURNS TABLE(r_id bigint, r_check boolean, r_connector text, r_target text,
              r_remote_key text, r_marker text, r_rung text, r_flag text,
              r_recipient text, r_login text, r_platform text, r_item bigint,
              r_title text, r_pm_ref text, r_pm_title text, r_due date, r_days integer,
              r_remote_id text, r_person jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
BEGIN
    UPDATE escalation e SET state = 'abandoned', outcome = CASE
               WHEN f.cleared_at IS NOT NULL THEN 'not sent: flag cleared (' || f.clear_reason || ')'
               ELSE 'not sent: ticket no longer linked' END
      FROM item_flag f, external_link l
     WHERE f.id = e.flag_id AND l.id = e.link_id
       AND e.state IN ('pending', 'failed', 'unknown')
       AND (f.cleared_at IS NOT NULL OR l.state <> 'linked');
    RETURN QUERY
    WITH c AS (
        SELECT e.id, e.state AS prev FROM escalation e
         WHERE e.state IN ('pending', 'failed', 'unknown')
            OR (e.state = 'sending' AND e.claimed_at < v_now - make_interval(secs => p_lease_s))
         ORDER BY e.id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), u AS (
        UPDATE escalation e SET state = 'sending', attempts = e.attempts + 1,
               claimed_at = v_now, claimed_by = p_by
          FROM c WHERE e.id = c.id
        RETURNING e.id, c.prev, e.link_id, e.marker, e.rung, e.flag_id, e.recipient, e.action_item_id
    )
    SELECT u.id, u.prev IN ('sending', 'unknown'), l.connector, l.target, l.remote_key,
           u.marker, u.rung, f.kind, u.recipient, p.github_login, pl.name, ai.id,
           ai.title, pm.reference, pm.title, ai.due_date,
           CASE WHEN f.kind = 'overdue' THEN (v_now AT TIME ZONE 'UTC')::date - ai.due_date
                ELSE (v_now AT TIME ZONE 'UTC')::date - (f.raised_at AT TIME ZONE 'UTC')::date END,
           l.remote_id,
           CASE WHEN p.id IS NULL THEN NULL
                ELSE jsonb_strip_nulls(to_jsonb(p) - 'created_at' - 'updated_at') END
      FROM u
      JOIN external_link l ON l.id = u.link_id
      JOIN item_flag f ON f.id = u.flag_id
      JOIN action_item ai ON ai.id = u.action_item_id
      JOIN postmortem pm ON pm.id = ai.postmortem_id
      LEFT JOIN team t ON t.id = ai.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
      LEFT JOIN person p ON p.handle = u.recipient
     ORDER BY u.id;
END $$;
