-- 012_watch.sql — flags and the escalation ladder (daemon/watch/).
--
-- Flags are computed in SQL from the ledger, set-based (a fixed number of
-- statements whatever the number of items), by closeloop_flags_compute():
-- the daemon on its own timer and `closeloop flags --once`.  Each flag is a
-- row of item_flag with its raise and clear history.  Escalations are rows
-- of escalation, one per (item, rung, flag raise, channel): written as an
-- intent before anything is sent, so a crash never sends twice or never.
-- Time is a parameter (p_now, NULL = now()) so tests move the clock.
-- Documented in docs/schema.md ("Flags and escalation").

CREATE TABLE item_flag (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN (
                       'ownerless', 'undated', 'overdue', 'stale', 'needs_decision',
                       'owner_inactive', 'link_broken', 'long_horizon',
                       'no_action_items', 'no_high_priority')),
    postmortem_id  bigint NOT NULL REFERENCES postmortem(id),
    action_item_id bigint REFERENCES action_item(id), -- NULL for postmortem-level flags
    raised_at      timestamptz NOT NULL,
    raised_by      text NOT NULL,                     -- 'daemon:<host>:<pid>', 'cli:<user>', ...
    detail         jsonb NOT NULL DEFAULT '{}',        -- facts at raise time (days overdue, ...)
    cleared_at     timestamptz,
    cleared_by     text,
    clear_reason   text,
    CHECK ((cleared_at IS NULL) = (clear_reason IS NULL))
);
-- a flag is raised once while its condition holds
CREATE UNIQUE INDEX item_flag_open_key ON item_flag (kind, postmortem_id, coalesce(action_item_id, 0))
    WHERE cleared_at IS NULL;
CREATE INDEX item_flag_item_idx ON item_flag (action_item_id, raised_at);
CREATE INDEX item_flag_pm_idx ON item_flag (postmortem_id);

CREATE TABLE escalation (
    id                 bigserial PRIMARY KEY,
    action_item_id     bigint NOT NULL REFERENCES action_item(id),
    rung               text NOT NULL,                 -- rung name from the configuration
    flag_id            bigint NOT NULL REFERENCES item_flag(id), -- the raise that armed it
    channel            text NOT NULL,                 -- 'comment:<connector>'
    link_id            bigint REFERENCES external_link(id),
    recipient          text,                          -- person.handle (NULL: nobody in the directory)
    recipient_identity text,                          -- as mentioned, e.g. '@octocat'
    marker             text NOT NULL UNIQUE
                       DEFAULT 'esc-' || replace(gen_random_uuid()::text, '-', ''),
    state              text NOT NULL DEFAULT 'pending' CHECK (state IN (
                           'pending', 'sending', 'sent', 'failed', 'unknown', 'abandoned')),
    attempts           integer NOT NULL DEFAULT 0,
    armed_at           timestamptz NOT NULL,
    armed_by           text NOT NULL,
    claimed_at         timestamptz,
    claimed_by         text,
    sent_at            timestamptz,
    remote_url         text,
    outcome            text,
    UNIQUE (action_item_id, rung, flag_id, channel)
);
CREATE INDEX escalation_state_idx ON escalation (state) WHERE state NOT IN ('sent', 'abandoned');

-- The flag conditions that hold at p_now: one row per (kind, postmortem,
-- item).  p_opts (every key optional):
--   {"disable": ["stale", ...], "ownerless_grace_days": 2,
--    "undated_grace_days": 2, "stale_days": 30, "needs_decision_days": 180,
--    "link_broken_errors": 5, "no_action_items_grace_days": 2,
--    "long_horizon_days": 30}
-- Dates are compared in UTC.  Item flags other than link_broken concern
-- open items (state open / in_progress) only.
CREATE FUNCTION closeloop_flags_current(p_now timestamptz, p_opts jsonb)
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
   AND it.created_at <= o.now - make_interval(days => o.own_grace)
UNION ALL
SELECT 'undated', it.postmortem_id, it.id, jsonb_build_object('created_at', it.created_at)
  FROM it, o
 WHERE NOT (o.off ? 'undated') AND it.due_date IS NULL
   AND it.created_at <= o.now - make_interval(days => o.due_grace)
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
  LEFT JOIN (SELECT l.action_item_id, max(l.remote_updated_at) AS at FROM external_link l
              GROUP BY l.action_item_id) ln ON ln.action_item_id = it.id
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

-- Raise and clear flags so that item_flag's open rows equal
-- closeloop_flags_current(p_now, p_opts).  A flag already open stays as it
-- is (raised once while its condition holds); a flag whose condition no
-- longer holds is cleared with a reason; p_by names the writer.  Runs under
-- a transaction advisory lock, so several daemons compute one after the
-- other and the second finds nothing to do.  Returns one row per kind:
-- raised, cleared, open after.
CREATE FUNCTION closeloop_flags_compute(p_now timestamptz, p_opts jsonb, p_by text)
RETURNS TABLE(r_kind text, r_raised integer, r_cleared integer, r_open integer)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_opts jsonb := coalesce(p_opts, '{}'::jsonb);
BEGIN
    PERFORM pg_advisory_xact_lock(7164223648653143921); -- "closelop" + 1: flags
    RETURN QUERY
    -- The open flags are read once, before anything is written: a NOT
    -- EXISTS probe of item_flag per computed row would re-read the heap
    -- this same statement is inserting into (invisible rows are still
    -- read), which made the first run on a large ledger quadratic.
    WITH cur AS MATERIALIZED (
        SELECT * FROM closeloop_flags_current(v_now, v_opts)
    ), open AS MATERIALIZED (
        SELECT f.id, f.kind, f.postmortem_id, f.action_item_id
          FROM item_flag f
         WHERE f.cleared_at IS NULL
    ), gone AS (
        SELECT f.id, f.kind, ai.state, ai.owner, ai.due_date
          FROM open f LEFT JOIN action_item ai ON ai.id = f.action_item_id
         WHERE NOT EXISTS (SELECT 1 FROM cur c
                            WHERE c.kind = f.kind AND c.postmortem_id = f.postmortem_id
                              AND coalesce(c.action_item_id, 0) = coalesce(f.action_item_id, 0))
    ), cleared AS (
        UPDATE item_flag f
           SET cleared_at = v_now, cleared_by = p_by,
               clear_reason = CASE
                   WHEN v_opts->'disable' ? g.kind THEN 'flag turned off in the configuration'
                   WHEN g.kind = 'link_broken' THEN 'no broken link any more'
                   WHEN g.state IN ('done', 'wont_do') THEN 'item closed (' || g.state || ')'
                   WHEN g.kind = 'ownerless' THEN 'owner set: ' || g.owner
                   WHEN g.kind = 'undated' THEN 'due date set: ' || g.due_date::text
                   WHEN g.kind IN ('overdue', 'long_horizon')
                        THEN 'due date moved to ' || coalesce(g.due_date::text, 'none')
                   WHEN g.kind = 'stale' THEN 'activity on the item'
                   WHEN g.kind = 'owner_inactive'
                        THEN coalesce('owner ' || nullif(btrim(g.owner), '') || ' is active in the directory',
                                      'owner removed')
                   WHEN g.kind = 'no_action_items' THEN 'action items added'
                   WHEN g.kind = 'no_high_priority' THEN 'a P0/P1 action item exists'
                   ELSE 'condition no longer holds (threshold changed)'
               END
          FROM gone g
         WHERE f.id = g.id
        RETURNING f.kind
    ), raised AS (
        INSERT INTO item_flag (kind, postmortem_id, action_item_id, raised_at, raised_by, detail)
        SELECT c.kind, c.postmortem_id, c.action_item_id, v_now, p_by, c.detail
          FROM cur c
         WHERE NOT EXISTS (SELECT 1 FROM open f
                            WHERE f.kind = c.kind
                              AND f.postmortem_id = c.postmortem_id
                              AND coalesce(f.action_item_id, 0) = coalesce(c.action_item_id, 0))
        ON CONFLICT DO NOTHING
        RETURNING kind
    ), before AS (
        SELECT f.kind, count(*) AS n FROM open f GROUP BY f.kind
    )
    SELECT k.kind,
           (SELECT count(*) FROM raised r WHERE r.kind = k.kind)::int,
           (SELECT count(*) FROM cleared c WHERE c.kind = k.kind)::int,
           (coalesce((SELECT b.n FROM before b WHERE b.kind = k.kind), 0)
            + (SELECT count(*) FROM raised r WHERE r.kind = k.kind)
            - (SELECT count(*) FROM cleared c WHERE c.kind = k.kind))::int
      FROM unnest(ARRAY['ownerless', 'undated', 'overdue', 'stale', 'needs_decision',
                        'owner_inactive', 'link_broken', 'long_horizon',
                        'no_action_items', 'no_high_priority']) AS k(kind);
END $$;

-- Arm the ladder: one escalation intent (state 'pending') per open flag
-- that reached a rung, per managed linked ticket of the item.  p_rungs:
--   [{"name": "overdue-30", "flag": "overdue", "days": 30,
--     "notify": "platform_lead" | "<person handle>"}, ...]
-- "days" counts days past the due date for 'overdue', days since the flag
-- was raised for any other kind.  A rung fires once per (item, rung, flag
-- raise, channel): when the flag clears (due date moved, item closed) and
-- is raised again later, the ladder re-arms.  Returns the number armed.
CREATE FUNCTION closeloop_escalation_arm(p_now timestamptz, p_rungs jsonb, p_by text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_today date := (coalesce(p_now, now()) AT TIME ZONE 'UTC')::date;
    v_n integer;
BEGIN
    INSERT INTO escalation (action_item_id, rung, flag_id, channel, link_id, recipient,
                            armed_at, armed_by)
    SELECT ai.id, r.name, f.id, 'comment:' || l.connector, l.id,
           CASE WHEN r.notify = 'platform_lead' THEN pl.lead_handle ELSE r.notify END,
           v_now, p_by
      FROM item_flag f
      JOIN jsonb_to_recordset(coalesce(p_rungs, '[]'::jsonb))
           AS r(name text, flag text, days integer, notify text) ON r.flag = f.kind
      JOIN action_item ai ON ai.id = f.action_item_id
      JOIN postmortem pm ON pm.id = ai.postmortem_id
      LEFT JOIN team t ON t.id = ai.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
      JOIN external_link l ON l.action_item_id = ai.id AND l.kind = 'managed' AND l.state = 'linked'
     WHERE f.cleared_at IS NULL AND ai.state IN ('open', 'in_progress')
       AND CASE WHEN f.kind = 'overdue' THEN v_today - ai.due_date >= r.days
                ELSE f.raised_at <= v_now - make_interval(days => r.days) END
       AND NOT EXISTS (SELECT 1 FROM escalation x
                        WHERE x.action_item_id = ai.id AND x.rung = r.name
                          AND x.flag_id = f.id AND x.channel = 'comment:' || l.connector)
    ON CONFLICT DO NOTHING; -- two daemons arming at once: the first one wins
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;

-- Take up to p_limit escalations to send, each by exactly one caller
-- (FOR UPDATE SKIP LOCKED): 'pending', 'failed' and 'unknown' ones, and
-- 'sending' ones whose claim is older than p_lease_s seconds (their sender
-- died).  The claim itself (state 'sending', attempts + 1) is the intent
-- committed before the request.  r_check is true when an earlier attempt
-- may have reached the tracker: look for r_marker before sending again.
-- Escalations whose flag cleared or whose ticket is no longer linked are
-- abandoned instead (nothing is sent).
CREATE FUNCTION closeloop_escalation_claim(p_now timestamptz, p_by text, p_limit integer,
                                           p_lease_s integer)
RETURNS TABLE(r_id bigint, r_check boolean, r_connector text, r_target text,
              r_remote_key text, r_marker text, r_rung text, r_flag text,
              r_recipient text, r_login text, r_platform text, r_item bigint,
              r_title text, r_pm_ref text, r_pm_title text, r_due date, r_days integer)
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
                ELSE (v_now AT TIME ZONE 'UTC')::date - (f.raised_at AT TIME ZONE 'UTC')::date END
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

-- Record the outcome of one claimed escalation.  p_state: 'sent' (the
-- comment exists; p_url its address), 'failed' (the tracker refused or
-- could not be reached and did not act: retried next run, abandoned after
-- 5 attempts), 'unknown' (it may have acted: the next run looks for the
-- marker first).  A send is also recorded in the item's history
-- (item_event field 'escalation', source 'watch').  Returns false when the
-- escalation was not in state 'sending' (nothing written).
CREATE FUNCTION closeloop_escalation_done(p_id bigint, p_state text, p_outcome text,
                                          p_url text, p_identity text, p_now timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    e escalation%ROWTYPE;
BEGIN
    IF p_state NOT IN ('sent', 'failed', 'unknown') THEN
        RAISE EXCEPTION 'closeloop_escalation_done: state % is not sent, failed or unknown', p_state;
    END IF;
    UPDATE escalation SET
        state = CASE WHEN p_state = 'failed' AND attempts >= 5 THEN 'abandoned' ELSE p_state END,
        outcome = p_outcome, remote_url = coalesce(p_url, remote_url),
        recipient_identity = coalesce(p_identity, recipient_identity),
        sent_at = CASE WHEN p_state = 'sent' THEN coalesce(p_now, now()) END
     WHERE id = p_id AND state = 'sending'
    RETURNING * INTO e;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_state = 'sent' THEN
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        VALUES (e.action_item_id, 'escalation', NULL,
                e.rung || ': ' || coalesce(e.recipient_identity, e.recipient, 'nobody in the directory'),
                'watch', closeloop_actor(),
                jsonb_build_object('escalation_id', e.id, 'rung', e.rung, 'channel', e.channel,
                                   'recipient', e.recipient, 'url', e.remote_url));
    END IF;
    RETURN true;
END $$;

-- ---- dashboard views ----

CREATE VIEW v_item_flag_open AS
SELECT f.id AS flag_id, f.kind, pm.reference AS postmortem, f.postmortem_id,
       f.action_item_id, ai.title, ai.state, ai.owner, ai.priority, ai.due_date,
       tm.name AS team, pl.name AS platform,
       f.raised_at, f.raised_by, f.detail,
       CASE WHEN f.kind = 'overdue' THEN (now() AT TIME ZONE 'UTC')::date - ai.due_date END AS days_overdue,
       ((now() AT TIME ZONE 'UTC')::date - (f.raised_at AT TIME ZONE 'UTC')::date) AS days_flagged
  FROM item_flag f
  JOIN postmortem pm ON pm.id = f.postmortem_id
  LEFT JOIN action_item ai ON ai.id = f.action_item_id
  LEFT JOIN team tm ON tm.id = coalesce(ai.team_id, pm.team_id)
  LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, pm.platform_id)
 WHERE f.cleared_at IS NULL;

CREATE VIEW v_item_flag_history AS
SELECT f.id AS flag_id, f.kind, pm.reference AS postmortem, f.postmortem_id,
       f.action_item_id, ai.title, f.raised_at, f.raised_by, f.detail,
       f.cleared_at, f.cleared_by, f.clear_reason
  FROM item_flag f
  JOIN postmortem pm ON pm.id = f.postmortem_id
  LEFT JOIN action_item ai ON ai.id = f.action_item_id;

CREATE VIEW v_escalation AS
SELECT e.id AS escalation_id, e.action_item_id, ai.title, pm.reference AS postmortem,
       pl.name AS platform, e.rung, f.kind AS flag, e.channel, e.recipient,
       e.recipient_identity, e.state, e.attempts, e.armed_at, e.sent_at, e.remote_url, e.outcome
  FROM escalation e
  JOIN action_item ai ON ai.id = e.action_item_id
  JOIN postmortem pm ON pm.id = ai.postmortem_id
  JOIN item_flag f ON f.id = e.flag_id
  LEFT JOIN team tm ON tm.id = ai.team_id
  LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, pm.platform_id);

-- dashboards read the views through the read-only role of 008_report.sql
GRANT SELECT ON v_item_flag_open, v_item_flag_history, v_escalation TO closeloop_reader;
