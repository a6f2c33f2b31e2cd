-- 033_discovery.sql — action items born in the tracker (docs/schema.md
-- "Discovery", docs/architecture.md "Discovery").
--
-- A connector's discovery rule (config connectors.[].discover: GitHub a
-- label, Jira a JQL fragment, ServiceNow a problem reported by an
-- incident) marks tickets of its normal listing as action items.  One that
-- no link knows is adopted: a new action item linked to it from the start
-- (never a create), its fields pulled, attached to the postmortem the
-- ticket names, else to its team's "unattached" postmortem.
--
--   postmortem.kind              'document' (imported or made in SQL) or
--                                'unattached': one per team (team_id NULL
--                                for items of no team), reference
--                                'unattached:<team>', holding discovered
--                                items that name no postmortem
--   external_link.discovered_at  when the link was born by discovery (NULL:
--                                created by closeloop or adopted otherwise)
--   external_link.discover_left_at  when its ticket was first read no
--                                longer matching the rule (label taken
--                                off); NULL while it matches.  Such an item
--                                stays and is flagged 'discovery_left'.
--
-- Idempotence: a ticket is one link (external_link_remote_key: connector,
-- remote_id), the adoption runs under the connector's advisory lock on the
-- session that holds it, and each ticket's insert is its own
-- subtransaction: a ticket some other writer linked meanwhile is reported
-- 'linked', never adopted twice.

ALTER TABLE postmortem ADD COLUMN kind text NOT NULL DEFAULT 'document'
    CONSTRAINT postmortem_kind_check CHECK (kind IN ('document', 'unattached'));
CREATE UNIQUE INDEX postmortem_unattached_team ON postmortem (coalesce(team_id, 0))
    WHERE kind = 'unattached';
-- what a ticket's text is looked up by (closeloop_discover_postmortem)
CREATE INDEX postmortem_reference_lower ON postmortem (lower(reference));
CREATE INDEX postmortem_document_url ON postmortem (rtrim(document_url, '/'))
    WHERE document_url IS NOT NULL;
CREATE INDEX postmortem_problem_ref ON postmortem (problem_ref) WHERE problem_ref IS NOT NULL;

ALTER TABLE external_link ADD COLUMN discovered_at timestamptz,
                          ADD COLUMN discover_left_at timestamptz;
CREATE INDEX external_link_discover_left ON external_link (action_item_id)
    WHERE discover_left_at IS NOT NULL;

ALTER TABLE item_flag DROP CONSTRAINT item_flag_kind_check;
ALTER TABLE item_flag ADD CONSTRAINT item_flag_kind_check CHECK (kind IN (
    'ownerless', 'undated', 'overdue', 'stale', 'needs_decision',
    'owner_inactive', 'link_broken', 'long_horizon',
    'no_action_items', 'no_high_priority', 'discovery_left'));

-- The postmortem a ticket names: p_words are the words of its title,
-- description and connector refs (conn_remote.refs), each compared with a
-- postmortem's reference (any case), document URL (without a trailing
-- '/') and problem reference.  NULL when none; the newest when several.
CREATE FUNCTION closeloop_discover_postmortem(p_words text[]) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT p.id FROM postmortem p
     WHERE p.kind = 'document'
       AND (lower(p.reference) = ANY (SELECT lower(w) FROM unnest(p_words) w)
            OR rtrim(p.document_url, '/') = ANY (SELECT rtrim(w, '/') FROM unnest(p_words) w)
            OR p.problem_ref = ANY (p_words))
     ORDER BY p.id DESC LIMIT 1
$$;

-- The "unattached" postmortem of team p_team (NULL: of no team), made on
-- first use.  Its platform is the team's.
CREATE FUNCTION closeloop_unattached_postmortem(p_team bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_name text;
BEGIN
    SELECT id INTO v_id FROM postmortem
     WHERE kind = 'unattached' AND coalesce(team_id, 0) = coalesce(p_team, 0);
    IF v_id IS NOT NULL THEN
        RETURN v_id;
    END IF;
    SELECT name INTO v_name FROM team WHERE id = p_team;
    INSERT INTO postmortem (reference, title, team_id, platform_id, kind)
    SELECT 'unattached:' || coalesce(v_name, '(no team)'),
           'Action items found in a tracker, not attached to a postmortem'
           || coalesce(' (team ' || v_name || ')', ''),
           p_team, (SELECT platform_id FROM team WHERE id = p_team), 'unattached'
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT id INTO v_id FROM postmortem
         WHERE kind = 'unattached' AND coalesce(team_id, 0) = coalesce(p_team, 0);
    END IF;
    RETURN v_id;
END $$;

-- One listed page's discovery work for (p_connector, p_target):
--   p_team     the rule's team name, NULL: the team the directory routes
--              to (connector, target), the lowest id when several
--   p_adopt    tickets that match the rule and that no link knows, each
--              {"remote_id", "key", "url", "updated_at", "etag", "extra",
--               "fields": {title, description, state, priority, type,
--               owner (a handle, or the tracker identity as written),
--               due_date}, "words": [...]}
--   p_left     remote ids of discovered links whose ticket no longer matches
--   p_back     remote ids of discovered links whose ticket matches again
--   p_source   item_event source ("reconcile:<connector>")
--   p_dry      true: decide and report, write nothing
-- One row per ticket: r_remote_id, r_outcome ('adopted', 'linked': some
-- link knows it already, 'referenced': a document item names it, the push
-- pass adopts it for that item; 'left', 'back'), r_item (the item),
-- r_postmortem (its postmortem's reference), r_key and r_title (the
-- ticket's key and title, for the log and the dry run).
CREATE FUNCTION closeloop_discover_page(p_connector text, p_target text, p_team text,
                                        p_adopt jsonb, p_left text[], p_back text[],
                                        p_source text, p_dry boolean)
RETURNS TABLE(r_remote_id text, r_outcome text, r_item bigint, r_postmortem text,
              r_key text, r_title text)
LANGUAGE plpgsql AS $$
DECLARE
    v_team bigint;
    v_pm bigint;
    v_item bigint;
    v_link bigint;
    v_ver bigint;
    t jsonb;
    f jsonb;
BEGIN
    IF NOT p_dry THEN
        PERFORM set_config('closeloop.source', p_source, true);
    END IF;
    IF p_team IS NOT NULL THEN
        SELECT id INTO v_team FROM team WHERE lower(name) = lower(p_team) ORDER BY id LIMIT 1;
    ELSE
        SELECT id INTO v_team FROM team
         WHERE connector = p_connector AND lower(target) = lower(p_target) ORDER BY id LIMIT 1;
    END IF;
    FOR t IN SELECT * FROM jsonb_array_elements(coalesce(p_adopt, '[]'::jsonb)) LOOP
        r_remote_id := t->>'remote_id';
        r_key := t->>'key';
        r_title := t->'fields'->>'title';
        r_item := NULL;
        r_postmortem := NULL;
        SELECT l.action_item_id INTO r_item FROM external_link l
         WHERE l.connector = p_connector AND l.remote_id = r_remote_id;
        IF FOUND THEN
            r_outcome := 'linked';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT l.action_item_id INTO r_item FROM external_link l
         WHERE l.kind = 'reference' AND lower(l.target) = lower(p_target)
           AND lower(l.remote_key) = lower(t->>'key')
         ORDER BY l.id LIMIT 1;
        IF FOUND THEN
            r_outcome := 'referenced';
            RETURN NEXT;
            CONTINUE;
        END IF;
        v_pm := closeloop_discover_postmortem(ARRAY(SELECT jsonb_array_elements_text(t->'words')));
        IF v_pm IS NULL AND p_dry THEN
            r_postmortem := 'unattached:' || coalesce((SELECT name FROM team WHERE id = v_team),
                                                      '(no team)');
        ELSE
            IF v_pm IS NULL THEN
                v_pm := closeloop_unattached_postmortem(v_team);
            END IF;
            SELECT reference INTO r_postmortem FROM postmortem WHERE id = v_pm;
        END IF;
        IF p_dry THEN
            r_outcome := 'adopted';
            RETURN NEXT;
            CONTINUE;
        END IF;
        f := t->'fields';
        BEGIN
            PERFORM set_config('closeloop.changed_at', coalesce(t->>'updated_at', ''), true);
            INSERT INTO action_item (postmortem_id, title, description, type, priority, owner,
                                     team_id, due_date, state)
            VALUES (v_pm, f->>'title', f->>'description', coalesce(f->>'type', 'other'),
                    f->>'priority', f->>'owner', v_team, (f->>'due_date')::date,
                    coalesce(f->>'state', 'open'))
            RETURNING id, version INTO v_item, v_ver;
            INSERT INTO external_link (action_item_id, connector, target, kind, state,
                                       remote_id, remote_key, url, base, remote_updated_at,
                                       etag, remote_extra, synced_version, discovered_at)
            VALUES (v_item, p_connector, p_target, 'managed', 'linked', r_remote_id,
                    t->>'key', t->>'url', f, (t->>'updated_at')::timestamptz,
                    t->>'etag', t->'extra', v_ver, now())
            RETURNING id INTO v_link;
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor,
                                    detail)
            VALUES (v_item, 'link', NULL, 'discovered: ' || coalesce(t->>'key', r_remote_id),
                    p_source, closeloop_actor(),
                    jsonb_build_object('connector', p_connector, 'target', p_target,
                                       'url', t->>'url'));
            PERFORM set_config('closeloop.changed_at', '', true);
            r_item := v_item;
            r_outcome := 'adopted';
        EXCEPTION WHEN unique_violation THEN
            PERFORM set_config('closeloop.changed_at', '', true);
            SELECT l.action_item_id INTO r_item FROM external_link l
             WHERE l.connector = p_connector AND l.remote_id = r_remote_id;
            r_outcome := 'linked';
        END;
        RETURN NEXT;
    END LOOP;
    -- discovered links whose ticket left the rule, or came back to it
    FOR r_remote_id, r_item, r_postmortem, r_key, r_title, r_outcome IN
        SELECT l.remote_id, l.action_item_id, p.reference, l.remote_key, i.title,
               CASE WHEN l.discover_left_at IS NULL THEN 'left' ELSE 'back' END
          FROM external_link l JOIN action_item i ON i.id = l.action_item_id
          JOIN postmortem p ON p.id = i.postmortem_id
         WHERE l.connector = p_connector AND l.discovered_at IS NOT NULL
           AND ((l.remote_id = ANY (coalesce(p_left, '{}')) AND l.discover_left_at IS NULL)
                OR (l.remote_id = ANY (coalesce(p_back, '{}')) AND l.discover_left_at IS NOT NULL))
    LOOP
        IF NOT p_dry THEN
            UPDATE external_link
               SET discover_left_at = CASE WHEN r_outcome = 'left' THEN now() END
             WHERE connector = p_connector AND remote_id = r_remote_id;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- Flags: closeloop_flags_current of 025 (kept as closeloop_flags_base)
-- without the postmortem-level flags of "unattached" postmortems (they are
-- buckets, not documents), plus 'discovery_left': an open item whose
-- discovered ticket no longer matches its rule.
ALTER FUNCTION closeloop_flags_current(timestamptz, jsonb) RENAME TO closeloop_flags_base;
CREATE FUNCTION closeloop_flags_current(p_now timestamptz, p_opts jsonb)
RETURNS TABLE(kind text, postmortem_id bigint, action_item_id bigint, detail jsonb)
LANGUAGE sql STABLE SET jit = off AS $$
SELECT b.kind, b.postmortem_id, b.action_item_id, b.detail
  FROM closeloop_flags_base(p_now, p_opts) b
 WHERE b.action_item_id IS NOT NULL
    OR NOT EXISTS (SELECT 1 FROM postmortem p WHERE p.id = b.postmortem_id AND p.kind = 'unattached')
UNION ALL
SELECT 'discovery_left', ai.postmortem_id, ai.id,
       jsonb_build_object('links', jsonb_agg(jsonb_build_object(
           'connector', l.connector, 'key', l.remote_key, 'left_at', l.discover_left_at)
           ORDER BY l.id))
  FROM external_link l JOIN action_item ai ON ai.id = l.action_item_id
 WHERE NOT (coalesce(p_opts->'disable', '[]'::jsonb) ? 'discovery_left')
   AND l.discover_left_at IS NOT NULL AND ai.state IN ('open', 'in_progress')
 GROUP BY ai.postmortem_id, ai.id
$$;

-- closeloop_flags_compute of 012 with the new kind's clear reason and count.
CREATE OR REPLACE FUNCTION closeloop_flags_compute(p_now timestamptz, p_opts jsonb, p_by text)
RETURNS TABLE(r_kind text, r_raised integer, r_cleared integer, r_open integer)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_opts jsonb := coalesce(p_opts, '{}'::jsonb);
BEGIN
    PERFORM pg_advisory_xact_lock(7164223648653143921); -- "closelop" + 1: flags
    RETURN QUERY
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
                   WHEN g.kind = 'discovery_left' THEN 'the ticket matches the discovery rule again'
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
                        'no_action_items', 'no_high_priority', 'discovery_left']) AS k(kind);
END $$;
