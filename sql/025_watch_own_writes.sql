-- 025_watch_own_writes.sql — staleness that closeloop's own writes do not
-- reset, so the `stale` flag can be shown as a ticket label.
--
-- A tracker keeps one "updated" time per ticket, and every write bumps it:
-- a closeloop:* label put on or taken off, an escalation comment or work
-- note.  Measured from that time alone (external_link.remote_updated_at),
-- the closeloop:stale label would clear the very flag it shows at the next
-- pull, and an escalation comment on a quiet item would count as activity
-- on it.  GitHub's own stale action (actions/stale) meets the same problem
-- the same way: an update within 15 seconds of its own stale label is not
-- taken as activity.
--
-- Here: ticket_write keeps, per ticket, the time window of closeloop's
-- latest own write of that kind (from the claim, committed before the
-- request, to the recorded outcome; open while a write is in flight),
-- maintained by triggers on ticket_label (claimed_at set / cleared) and
-- on escalation (a comment row entering / leaving 'sending').  When a pull
-- moves remote_updated_at, a trigger on external_link decides whose change
-- it was: inside a window widened by 15 s on each side (the tracker's
-- clock against the ledger's, and the second-rounded times trackers
-- give), it was closeloop's, and external_link.remote_activity_at keeps
-- the tracker's last change before it; otherwise it was someone else's and
-- remote_activity_at is NULL, meaning "the same as remote_updated_at".
-- closeloop_flags_current measures `stale` from
-- coalesce(remote_activity_at, remote_updated_at).
--
-- What this cannot see: a person's change made after the last pull and
-- before closeloop's own write, when no pull comes between them (the
-- tracker reports only the later time, which is closeloop's).  A change
-- of a field still counts (the pull records it in item_event); a bare
-- comment in that window does not.  Reconcile's own pushes are not
-- excluded: they carry a ledger edit, which is activity.
-- Documented in docs/schema.md ("Flags and escalation").

CREATE TABLE ticket_write (
    link_id    bigint PRIMARY KEY REFERENCES external_link(id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,   -- the claim of the earliest write in flight / the last write
    ended_at   timestamptz             -- its outcome recorded; NULL while a write is in flight
);

ALTER TABLE external_link ADD COLUMN remote_activity_at timestamptz;
COMMENT ON COLUMN external_link.remote_activity_at IS
    'the tracker''s last change not made by closeloop''s own label or comment writes; '
    'NULL = remote_updated_at (025_watch_own_writes.sql)';

-- A write on link p_link starts at p_start (p_end NULL) or ends at p_end.
CREATE FUNCTION closeloop_own_write(p_link bigint, p_start timestamptz, p_end timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_end IS NULL THEN
        INSERT INTO ticket_write AS w (link_id, started_at) VALUES (p_link, p_start)
        ON CONFLICT (link_id) DO UPDATE
           SET started_at = CASE WHEN w.ended_at IS NULL THEN least(w.started_at, EXCLUDED.started_at)
                                 ELSE EXCLUDED.started_at END,
               ended_at = NULL;
    ELSE
        -- the window closes when no other write on the ticket is in flight
        UPDATE ticket_write SET ended_at = greatest(started_at, p_end)
         WHERE link_id = p_link
           AND NOT EXISTS (SELECT 1 FROM ticket_label t
                            WHERE t.link_id = p_link AND t.claimed_at IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM escalation e
                            WHERE e.link_id = p_link AND e.state = 'sending');
    END IF;
END $$;

CREATE FUNCTION closeloop_ticket_label_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.claimed_at IS NOT NULL THEN
        PERFORM closeloop_own_write(NEW.link_id, NEW.claimed_at, NULL);
    ELSE
        PERFORM closeloop_own_write(NEW.link_id, NULL,
            CASE WHEN NEW.done_at IS DISTINCT FROM OLD.done_at THEN NEW.done_at ELSE now() END);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ticket_label_own_write AFTER UPDATE OF claimed_at ON ticket_label
    FOR EACH ROW WHEN (OLD.claimed_at IS DISTINCT FROM NEW.claimed_at)
    EXECUTE FUNCTION closeloop_ticket_label_write();

CREATE FUNCTION closeloop_escalation_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'sending' THEN
        PERFORM closeloop_own_write(NEW.link_id, NEW.claimed_at, NULL);
    ELSE
        PERFORM closeloop_own_write(NEW.link_id, NULL, coalesce(NEW.sent_at, now()));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER escalation_own_write AFTER UPDATE OF state, claimed_at ON escalation
    FOR EACH ROW WHEN (NEW.link_id IS NOT NULL
                       AND (NEW.state = 'sending' OR OLD.state = 'sending')
                       AND (OLD.state IS DISTINCT FROM NEW.state
                            OR OLD.claimed_at IS DISTINCT FROM NEW.claimed_at))
    EXECUTE FUNCTION closeloop_escalation_write();

-- Whose change moved remote_updated_at (see the head of this file).
CREATE FUNCTION closeloop_link_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticket_write w
                WHERE w.link_id = NEW.id
                  AND NEW.remote_updated_at >= w.started_at - interval '15 seconds'
                  AND NEW.remote_updated_at <= coalesce(w.ended_at, 'infinity') + interval '15 seconds') THEN
        NEW.remote_activity_at := coalesce(OLD.remote_activity_at, OLD.remote_updated_at, '-infinity');
    ELSE
        NEW.remote_activity_at := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER external_link_activity BEFORE UPDATE OF remote_updated_at ON external_link
    FOR EACH ROW WHEN (NEW.remote_updated_at IS DISTINCT FROM OLD.remote_updated_at)
    EXECUTE FUNCTION closeloop_link_activity();

-- closeloop_flags_current of 012 with two changes (012 documents the
-- options):
--   - a ticket's activity for `stale` is coalesce(remote_activity_at,
--     remote_updated_at), the tracker's last change that was not
--     closeloop's own label or comment;
--   - the grace periods of `ownerless` and `undated` count from the item's
--     creation as `needs_decision` does: the earlier of the ledger row's
--     creation and the postmortem's published date.  An item of a
--     postmortem published years ago, imported today, has been without
--     an owner for years, not for minutes.
CREATE OR REPLACE FUNCTION closeloop_flags_current(p_now timestamptz, p_opts jsonb)
RETURNS TABLE(kind text, postmortem_id bigint, action_item_id bigint, detail jsonb)
LANGUAGE sql STABLE
-- the planner's row estimates for these joins over 100,000 items are high
-- enough to trigger JIT, whose compilation costs several times the query
SET jit = off
AS $$
WITH o AS (
    SELECT p_now AS now, (p_now AT TIME ZONE 'UTC')::date AS today,
           coalesce(p_opts->'disable', '[]'::jsonb) AS off,
           coalesce((p_opts->>'ownerless_grace_days')::int, 2) AS own_grace,
           coalesce((p_opts->>'undated_grace_days')::int, 2) AS due_grace,
           coalesce((p_opts->>'stale_days')::int, 30) AS stale_days,
           coalesce((p_opts->>'needs_decision_days')::int, 180) AS decide_days,
           coalesce((p_opts->>'link_broken_errors')::int, 5) AS link_errors,
           coalesce((p_opts->>'no_action_items_grace_days')::int, 2) AS pm_grace,
           coalesce((p_opts->>'long_horizon_days')::int, 30) AS horizon_days
), it AS (
    SELECT ai.id, ai.postmortem_id, ai.owner, ai.due_date, ai.created_at, ai.state,
           least(ai.created_at, (pm.published_date::timestamp AT TIME ZONE 'UTC')) AS open_since,
           coalesce(pm.published_date, (pm.incident_end AT TIME ZONE 'UTC')::date,
                    (pm.created_at AT TIME ZONE 'UTC')::date) AS pm_date
      FROM action_item ai JOIN postmortem pm ON pm.id = ai.postmortem_id
     WHERE ai.state IN ('open', 'in_progress')
)
SELECT 'ownerless', it.postmortem_id, it.id, jsonb_build_object('created_at', it.created_at)
  FROM it, o
 WHERE NOT (o.off ? 'ownerless') AND nullif(btrim(it.owner), '') IS NULL
   AND it.open_since <= o.now - make_interval(days => o.own_grace)
UNION ALL
SELECT 'undated', it.postmortem_id, it.id, jsonb_build_object('created_at', it.created_at)
  FROM it, o
 WHERE NOT (o.off ? 'undated') AND it.due_date IS NULL
   AND it.open_since <= o.now - make_interval(days => o.due_grace)
UNION ALL
SELECT 'overdue', it.postmortem_id, it.id,
       jsonb_build_object('due_date', it.due_date, 'days_overdue', o.today - it.due_date)
  FROM it, o
 WHERE NOT (o.off ? 'overdue') AND it.due_date < o.today
UNION ALL
SELECT 'stale', it.postmortem_id, it.id,
       jsonb_build_object('last_activity', greatest(it.created_at, ev.at, ln.at),
                          'days_quiet', (o.today - (greatest(it.created_at, ev.at, ln.at) AT TIME ZONE 'UTC')::date))
  FROM it CROSS JOIN o
  LEFT JOIN (SELECT e.action_item_id, max(e.at) AS at FROM item_event e
              WHERE e.source NOT LIKE 'watch%' GROUP BY e.action_item_id) ev ON ev.action_item_id = it.id
  LEFT JOIN (SELECT l.action_item_id, max(coalesce(l.remote_activity_at, l.remote_updated_at)) AS at
               FROM external_link l GROUP BY l.action_item_id) ln ON ln.action_item_id = it.id
 WHERE NOT (o.off ? 'stale')
   AND greatest(it.created_at, ev.at, ln.at) <= o.now - make_interval(days => o.stale_days)
UNION ALL
SELECT 'needs_decision', it.postmortem_id, it.id,
       jsonb_build_object('open_since', it.open_since,
                          'days_open', o.today - (it.open_since AT TIME ZONE 'UTC')::date)
  FROM it, o
 WHERE NOT (o.off ? 'needs_decision')
   AND it.open_since <= o.now - make_interval(days => o.decide_days)
UNION ALL
SELECT 'owner_inactive', it.postmortem_id, it.id,
       jsonb_build_object('owner', it.owner, 'reason',
                          CASE WHEN p.id IS NULL THEN 'not in the directory'
                               ELSE 'inactive in the directory' END)
  FROM it CROSS JOIN o LEFT JOIN person p ON p.handle = it.owner
 WHERE NOT (o.off ? 'owner_inactive') AND nullif(btrim(it.owner), '') IS NOT NULL
   AND (p.id IS NULL OR NOT p.active)
UNION ALL
SELECT 'long_horizon', it.postmortem_id, it.id,
       jsonb_build_object('due_date', it.due_date, 'postmortem_date', it.pm_date,
                          'days_after', it.due_date - it.pm_date)
  FROM it, o
 WHERE NOT (o.off ? 'long_horizon') AND it.due_date > it.pm_date + o.horizon_days
UNION ALL
SELECT 'link_broken', ai.postmortem_id, ai.id,
       jsonb_build_object('links', jsonb_agg(jsonb_build_object(
           'connector', l.connector, 'key', coalesce(l.remote_key, l.target),
           'reason', coalesce(l.broken_reason, l.last_error), 'errors', l.error_count)
           ORDER BY l.id))
  FROM external_link l JOIN action_item ai ON ai.id = l.action_item_id CROSS JOIN o
 WHERE NOT (o.off ? 'link_broken') AND l.kind = 'managed'
   AND (l.state = 'broken' OR l.error_count >= o.link_errors)
 GROUP BY ai.postmortem_id, ai.id
UNION ALL
SELECT 'no_action_items', pm.id, NULL::bigint,
       jsonb_build_object('published_date', pm.published_date)
  FROM postmortem pm, o
 WHERE NOT (o.off ? 'no_action_items')
   AND coalesce(pm.published_date, (pm.created_at AT TIME ZONE 'UTC')::date) <= o.today - o.pm_grace
   AND NOT EXISTS (SELECT 1 FROM action_item ai WHERE ai.postmortem_id = pm.id)
UNION ALL
SELECT 'no_high_priority', pm.id, NULL::bigint,
       jsonb_build_object('items', count(*), 'priorities', jsonb_agg(DISTINCT ai.priority))
  FROM postmortem pm JOIN action_item ai ON ai.postmortem_id = pm.id CROSS JOIN o
 WHERE NOT (o.off ? 'no_high_priority')
 GROUP BY pm.id
HAVING count(*) FILTER (WHERE ai.priority IN ('P0', 'P1')) = 0
$$;
