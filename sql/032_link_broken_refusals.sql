-- 032_link_broken_refusals.sql — `link_broken` also for a field write the
-- tracker keeps refusing.
--
-- A partial write leaves the refused field on the link (external_link.refused,
-- migration 5); it is held for refusal_backoff and then tried again.  A
-- record now also keeps the run of refusals of one value
-- (daemon/reconcile/plan.c): "since_ms", the first refusal of this value
-- in an unbroken run, and "count", the refusals in a row (1 = the first;
-- the run ends when the ledger value changes or a write of it succeeds,
-- which takes the record off the link).  Records written before this
-- migration have neither and count as a first refusal.
--
-- "Keeps being refused" (issue 10) is: the same value refused
-- flags.link_broken_refusals times in a row (p_opts link_broken_refusals,
-- default 3; with the default back-off of a day, the third refusal comes
-- two days after the first).  One refusal is a partial write, not a broken
-- link: the field is held and retried without a flag.  The flag's detail
-- names each such field per link: {field, value, reason, count, since}.
-- The flag clears when the record leaves the link.
--
-- closeloop_flags_current of 025 with that one change (012 documents the
-- options).  Documented in docs/schema.md ("Flags and escalation").

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
           coalesce((p_opts->>'link_broken_refusals')::int, 3) AS link_refusals,
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
           'reason', coalesce(l.broken_reason, l.last_error,
                              CASE WHEN rf.fields IS NOT NULL THEN 'field write refused' END),
           'errors', l.error_count)
           || CASE WHEN rf.fields IS NOT NULL THEN jsonb_build_object('refused', rf.fields)
                   ELSE '{}'::jsonb END
           ORDER BY l.id))
  FROM external_link l JOIN action_item ai ON ai.id = l.action_item_id CROSS JOIN o
  LEFT JOIN LATERAL (
      SELECT jsonb_agg(jsonb_build_object(
                 'field', e.key, 'value', e.value->'value', 'reason', e.value->>'reason',
                 'count', (e.value->>'count')::int,
                 'since', to_timestamp((e.value->>'since_ms')::bigint / 1000.0))
                 ORDER BY e.key) AS fields
        FROM jsonb_each(l.refused) e
       WHERE jsonb_typeof(l.refused) = 'object'
         AND coalesce((e.value->>'count')::int, 1) >= o.link_refusals) rf ON true
 WHERE NOT (o.off ? 'link_broken') AND l.kind = 'managed'
   AND (l.state = 'broken' OR l.error_count >= o.link_errors OR rf.fields IS NOT NULL)
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
