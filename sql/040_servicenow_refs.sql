-- 040_servicenow_refs.sql — a ServiceNow problem or problem task named
-- in a postmortem (PRB0040002, PTASK0040001, or a record URL of an
-- instance: docs/import.md) adopted by a ServiceNow connector, as Jira
-- issues and GitHub issues named there are (migration 23), though the
-- reference names no target of the connector: its target is the table
-- ("problem", "problem_task"), as a number names no assignment group
-- (docs/reconcile.md "Tickets named in a postmortem").
--
-- closeloop_push_select gains four arguments, used by connectors whose
-- references name no target of theirs (ServiceNow; NULL / false for the
-- others, which select exactly as before):
--   p_ref_table   the reference target this connector serves (its table);
--   p_ref_host    its instance as "host[:port]", lower case: a reference
--                 with a URL is this connector's when the URL names it;
--   p_ref_only    this is the only connector of its type: it takes the
--                 bare numbers (no URL) of items routed to none of them;
--   p_ref_home    this pass's target is the one adopted records are kept
--                 under (the connector's first target) for items routed
--                 elsewhere; an item routed to this connector adopts in
--                 its routed target.
-- An adopted reference becomes the managed link of this connector and
-- target (closeloop_rec_apply's 15th argument below): one link per item
-- and connector, so a restart or a second daemon adopts nothing again.
DROP FUNCTION closeloop_push_select(text, text, text, text, text, boolean);
CREATE FUNCTION closeloop_push_select(
    p_connector text, p_target text, p_def_connector text, p_def_target text,
    p_ref_connector text, p_creating boolean,
    p_ref_table text, p_ref_host text, p_ref_only boolean, p_ref_home boolean)
RETURNS TABLE (r_link bigint, r_item bigint, r_ref bigint) ROWS 10
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET jit = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH rt AS (
        SELECT tm.id FROM team tm
         WHERE coalesce(tm.connector, p_def_connector) = p_connector
           AND coalesce(tm.target, p_def_target) = p_target
        UNION
        SELECT tr.team_id FROM team_route tr
         WHERE tr.connector = p_connector AND tr.target = p_target
    ), cand AS (
        SELECT c.id FROM rt CROSS JOIN LATERAL (
            SELECT i.id FROM action_item i WHERE i.team_id = rt.id
               AND i.state NOT IN ('done','wont_do') AND i.managed_connectors < ARRAY[p_connector]
            UNION ALL
            SELECT i.id FROM action_item i WHERE i.team_id = rt.id
               AND i.state NOT IN ('done','wont_do') AND i.managed_connectors > ARRAY[p_connector]) c
        UNION ALL
        SELECT c.id FROM (SELECT 1 WHERE p_def_connector = p_connector AND p_def_target = p_target) d
         CROSS JOIN LATERAL (
            SELECT i.id FROM action_item i WHERE i.team_id IS NULL
               AND i.state NOT IN ('done','wont_do') AND i.managed_connectors < ARRAY[p_connector]
            UNION ALL
            SELECT i.id FROM action_item i WHERE i.team_id IS NULL
               AND i.state NOT IN ('done','wont_do') AND i.managed_connectors > ARRAY[p_connector]) c
        UNION ALL
        -- items sent to this target by hand (closeloop link), whatever
        -- their team's route
        SELECT i.id FROM item_route r JOIN action_item i ON i.id = r.action_item_id
         WHERE r.connector = p_connector AND r.target = p_target
           AND i.state NOT IN ('done','wont_do')
        UNION ALL
        -- items naming a ticket here while routed to other connectors
        SELECT i.id FROM external_link r JOIN action_item i ON i.id = r.action_item_id
          LEFT JOIN team tm ON tm.id = i.team_id
         WHERE r.connector = p_ref_connector AND r.target = p_target
           AND r.state = 'reference' AND r.kind = 'reference'
           AND i.state NOT IN ('done','wont_do')
           AND coalesce(tm.connector, p_def_connector) IS DISTINCT FROM p_connector
           AND NOT EXISTS (SELECT 1 FROM team_route tr
                            WHERE tr.team_id = i.team_id AND tr.connector = p_connector)
           AND NOT EXISTS (SELECT 1 FROM item_route ir
                            WHERE ir.action_item_id = i.id AND ir.connector = p_connector)
        UNION ALL
        -- ... or naming a record of this connector's table (a reference
        -- with no target of ours), in the connector's first target
        SELECT i.id FROM external_link r JOIN action_item i ON i.id = r.action_item_id
          LEFT JOIN team tm ON tm.id = i.team_id
         WHERE p_ref_home AND r.connector = p_ref_connector AND r.target = p_ref_table
           AND CASE WHEN r.url IS NULL THEN p_ref_only
                    ELSE lower(substring(r.url from '^[A-Za-z]+://([^/?#]+)')) = p_ref_host END
           AND r.state = 'reference' AND r.kind = 'reference'
           AND i.state NOT IN ('done','wont_do')
           AND coalesce(tm.connector, p_def_connector) IS DISTINCT FROM p_connector
           AND NOT EXISTS (SELECT 1 FROM team_route tr
                            WHERE tr.team_id = i.team_id AND tr.connector = p_connector)
           AND NOT EXISTS (SELECT 1 FROM item_route ir
                            WHERE ir.action_item_id = i.id AND ir.connector = p_connector)
    ), sel AS (
        SELECT l.id AS link, l.action_item_id AS item, NULL::bigint AS ref
          FROM external_link l
         WHERE l.connector = p_connector AND l.target = p_target AND l.kind = 'managed'
           AND l.state = 'linked' AND l.synced_version < l.item_version
        UNION ALL
        SELECT l.id, l.action_item_id, NULL
          FROM external_link l
         WHERE l.connector = p_connector AND l.target = p_target AND l.refused_retry_at <= now()
           AND l.kind = 'managed' AND l.state = 'linked' AND l.synced_version >= l.item_version
        UNION ALL
        SELECT l.id, l.action_item_id, NULL
          FROM external_link l
         WHERE p_creating AND l.connector = p_connector AND l.target = p_target
           AND l.kind = 'managed' AND l.state = 'creating' AND l.error_count < 5
        UNION ALL
        SELECT NULL, cand.id,
               (SELECT r.id FROM external_link r
                 WHERE r.action_item_id = cand.id AND r.kind = 'reference'
                   AND r.connector = p_ref_connector
                   AND (r.target = p_target
                        OR (r.target = p_ref_table
                            AND (r.url IS NULL OR lower(substring(r.url
                                 from '^[A-Za-z]+://([^/?#]+)')) = p_ref_host)))
                 ORDER BY r.target = p_target DESC, r.url IS NULL, r.id LIMIT 1)
          FROM (SELECT DISTINCT id FROM cand) cand
         WHERE NOT EXISTS (SELECT 1 FROM external_link l WHERE l.action_item_id = cand.id
                              AND l.kind = 'managed' AND l.connector = p_connector)
    )
    SELECT sel.link, sel.item, sel.ref FROM sel
     ORDER BY sel.item;
END $$;

-- closeloop_rec_apply with the target an adopted reference takes (the
-- pass's target: a ServiceNow reference's target is the table), written
-- under the same version check; NULL keeps the link's target.
CREATE FUNCTION closeloop_rec_apply(
    p_link bigint, p_expected_version bigint, p_pull jsonb, p_base jsonb,
    p_remote_id text, p_remote_key text, p_url text,
    p_remote_updated_at timestamptz, p_etag text, p_remote_extra jsonb,
    p_source text, p_conflicts jsonb, p_connector text, p_refused jsonb, p_target text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
BEGIN
    v_version := closeloop_rec_apply(p_link, p_expected_version, p_pull, p_base,
                                     p_remote_id, p_remote_key, p_url, p_remote_updated_at,
                                     p_etag, p_remote_extra, p_source, p_conflicts, p_connector,
                                     p_refused);
    IF v_version IS NOT NULL AND p_target IS NOT NULL THEN
        UPDATE external_link SET target = p_target
         WHERE id = p_link AND target IS DISTINCT FROM p_target;
    END IF;
    RETURN v_version;
END $$;
