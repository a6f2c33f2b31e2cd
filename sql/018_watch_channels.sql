-- 018_watch_channels.sql — escalations through chat and mail as well as
-- ticket comments, and mentions in each tracker's own way
-- (daemon/watch/watch_notify.c; escalation.chat / escalation.email and
-- escalation.rungs.[].channels in the configuration).
--
-- escalation.channel gains 'chat:<destination>' (a webhook destination of
-- daemon/deliver/) and 'email:<destination>' (an smtp destination): one
-- row per (item, rung, flag raise, destination), link_id NULL, armed for
-- the destinations that serve the item's platform.  The daemon groups the
-- rows of one run by (channel, recipient) into one digest message.
--
-- A chat or mail send cannot be looked up afterwards the way a comment is
-- found by its marker, so it is sent at most once: the claim ('sending',
-- committed before the request) is the intent, a send whose answer was
-- lost ('unknown') or whose sender died (a 'sending' claim past its lease)
-- is abandoned with that said in `outcome`, never sent again.  A send the
-- receiver certainly refused ('failed') is retried on the next run.
--
-- The claim keeps the columns of 015_escalation_identity.sql (the
-- recipient's directory row r_person, from which the sender takes the
-- identity in the ticket's tracker, the display name and the address)
-- and adds r_channel; a chat or mail row has no ticket (r_connector NULL).
-- Documented in docs/schema.md ("Flags and escalation").

-- p_rungs: [{"name", "flag", "days", "notify",
--            "comment": true|false (default true),
--            "comment_connectors": ["github-main", ...] (default: any),
--            "dests": [{"channel": "chat:ops-chat", "platforms": null | ["k8s"]}]}]
CREATE OR REPLACE FUNCTION closeloop_escalation_arm(p_now timestamptz, p_rungs jsonb, p_by text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_today date := (coalesce(p_now, now()) AT TIME ZONE 'UTC')::date;
    v_n integer;
    v_m integer;
BEGIN
    WITH due AS (   -- the rungs that fire now, per open item flag
        SELECT ai.id AS item, f.id AS flag_id, r.name AS rung,
               CASE WHEN r.notify = 'platform_lead' THEN pl.lead_handle ELSE r.notify END AS recipient,
               pl.name AS platform, coalesce(r.comment, true) AS comment, r.comment_connectors,
               coalesce(r.dests, '[]') AS dests
          FROM item_flag f
          JOIN jsonb_to_recordset(coalesce(p_rungs, '[]'::jsonb))
               AS r(name text, flag text, days integer, notify text, comment boolean,
                    comment_connectors jsonb, dests jsonb) ON r.flag = f.kind
          JOIN action_item ai ON ai.id = f.action_item_id
          JOIN postmortem pm ON pm.id = ai.postmortem_id
          LEFT JOIN team t ON t.id = ai.team_id
          LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
         WHERE f.cleared_at IS NULL AND ai.state IN ('open', 'in_progress')
           AND CASE WHEN f.kind = 'overdue' THEN v_today - ai.due_date >= r.days
                    ELSE f.raised_at <= v_now - make_interval(days => r.days) END
    ), comments AS (
        INSERT INTO escalation (action_item_id, rung, flag_id, channel, link_id, recipient,
                                armed_at, armed_by)
        SELECT d.item, d.rung, d.flag_id, 'comment:' || l.connector, l.id, d.recipient, v_now, p_by
          FROM due d
          JOIN external_link l ON l.action_item_id = d.item AND l.kind = 'managed'
                              AND l.state = 'linked'
         WHERE d.comment
           AND (d.comment_connectors IS NULL OR d.comment_connectors ? l.connector)
        ON CONFLICT DO NOTHING -- two daemons arming at once: the first one wins
        RETURNING 1
    ), messages AS (
        INSERT INTO escalation (action_item_id, rung, flag_id, channel, link_id, recipient,
                                armed_at, armed_by)
        SELECT d.item, d.rung, d.flag_id, x.channel, NULL, d.recipient, v_now, p_by
          FROM due d
          CROSS JOIN LATERAL jsonb_to_recordset(d.dests) AS x(channel text, platforms jsonb)
         WHERE x.platforms IS NULL OR x.platforms = 'null'::jsonb OR x.platforms ? d.platform
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM comments), (SELECT count(*) FROM messages) INTO v_n, v_m;
    RETURN v_n + v_m;
END $$;

DROP FUNCTION closeloop_escalation_claim(timestamptz, text, integer, integer);

-- Take up to p_limit escalations to send, each by exactly one caller
-- (FOR UPDATE SKIP LOCKED).  First, without sending: rows whose flag
-- cleared or whose ticket is no longer linked are abandoned; chat and
-- mail rows that may have gone out ('unknown', or 'sending' past the
-- lease) are abandoned as "not resent".  Then comments: 'pending',
-- 'failed', 'unknown' and 'sending' past the lease (r_check: look for
-- r_marker first); chat and mail: 'pending' and 'failed'.
CREATE FUNCTION closeloop_escalation_claim(p_now timestamptz, p_by text, p_limit integer,
                                           p_lease_s integer)
RETURNS TABLE(r_id bigint, r_check boolean, r_connector text, r_target text,
              r_remote_key text, r_marker text, r_rung text, r_flag text,
              r_recipient text, r_login text, r_platform text, r_item bigint,
              r_title text, r_pm_ref text, r_pm_title text, r_due date, r_days integer,
              r_remote_id text, r_person jsonb, r_channel text)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_stale timestamptz := coalesce(p_now, now()) - make_interval(secs => p_lease_s);
BEGIN
    UPDATE escalation e SET state = 'abandoned', outcome = CASE
               WHEN f.cleared_at IS NOT NULL THEN 'not sent: flag cleared (' || f.clear_reason || ')'
               WHEN e.link_id IS NOT NULL THEN 'not sent: ticket no longer linked'
               WHEN e.state = 'unknown' THEN 'not resent: ' || coalesce(e.outcome, 'the answer was lost')
                    || ' (it may have been delivered; a chat or mail send is never repeated)'
               ELSE 'not resent: the sender stopped while sending (it may have been delivered; '
                    || 'a chat or mail send is never repeated)' END
      FROM item_flag f
     WHERE f.id = e.flag_id
       AND ((e.state IN ('pending', 'failed', 'unknown')
             AND (f.cleared_at IS NOT NULL
                  OR EXISTS (SELECT 1 FROM external_link l
                              WHERE l.id = e.link_id AND l.state <> 'linked')))
            OR (e.channel NOT LIKE 'comment:%'
                AND (e.state = 'unknown' OR (e.state = 'sending' AND e.claimed_at < v_stale))));
    RETURN QUERY
    WITH c AS (
        SELECT e.id, e.state AS prev FROM escalation e
         WHERE e.state IN ('pending', 'failed')
            OR (e.channel LIKE 'comment:%'
                AND (e.state = 'unknown' OR (e.state = 'sending' AND e.claimed_at < v_stale)))
         ORDER BY e.id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), u AS (
        UPDATE escalation e SET state = 'sending', attempts = e.attempts + 1,
               claimed_at = v_now, claimed_by = p_by
          FROM c WHERE e.id = c.id
        RETURNING e.id, c.prev, e.link_id, e.marker, e.rung, e.flag_id, e.recipient,
                  e.action_item_id, e.channel
    )
    SELECT u.id, u.prev IN ('sending', 'unknown'), l.connector, l.target, l.remote_key,
           u.marker, u.rung, f.kind, u.recipient, p.github_login,
           pl.name, ai.id, ai.title, pm.reference, pm.title, ai.due_date,
           CASE WHEN f.kind = 'overdue' THEN (v_now AT TIME ZONE 'UTC')::date - ai.due_date
                ELSE (v_now AT TIME ZONE 'UTC')::date - (f.raised_at AT TIME ZONE 'UTC')::date END,
           l.remote_id,
           CASE WHEN p.id IS NULL THEN NULL
                ELSE jsonb_strip_nulls(to_jsonb(p) - 'created_at' - 'updated_at') END,
           u.channel
      FROM u
      LEFT JOIN external_link l ON l.id = u.link_id
      JOIN item_flag f ON f.id = u.flag_id
      JOIN action_item ai ON ai.id = u.action_item_id
      JOIN postmortem pm ON pm.id = ai.postmortem_id
      LEFT JOIN team t ON t.id = ai.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
      LEFT JOIN person p ON p.handle = u.recipient
     ORDER BY u.id;
END $$;
