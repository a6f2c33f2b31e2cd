-- 023_team_routes.sql — a team routed to several trackers, and tickets
-- named in a postmortem adopted in trackers other than the team's
-- (docs/schema.md "Team routes", docs/configuration.md "The directory file").
--
-- team_route: a target the team's action items go to besides the team's
-- own connector/target (team.connector, team.target), e.g. the team's Jira
-- project and a public GitHub repository for an open-source postmortem.
-- Written by the directory load (`also_to` of a team; the file wins on
-- load).  At most one per team and connector, and never the team's own
-- connector: there is at most one managed link per item and connector.
-- Each routed item gets one managed link per route, each created through
-- its own create intent (external_link state 'creating' with a token) by
-- the push pass of that (connector, target).
CREATE TABLE team_route (
    team_id    bigint NOT NULL REFERENCES team(id),
    connector  text NOT NULL,
    target     text NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, connector)
);
CREATE INDEX team_route_target_idx ON team_route (connector, target);

-- a new route needs a push pass (tickets are created at once)
CREATE TRIGGER team_route_notify AFTER INSERT OR UPDATE ON team_route
    FOR EACH ROW EXECUTE FUNCTION team_notify();

-- The push pass's selection (migrations 7 and 17) with the teams' extra
-- routes and the references to adopt across trackers:
--   rt     teams whose own route or one of whose extra routes is here;
--   cand   + items that name a ticket of this target in their postmortem
--          (a live reference of this connector's type) while none of their
--          routes uses this connector: the named ticket is adopted here,
--          and the item still gets its routed tickets elsewhere.  An item
--          routed to this connector keeps the rule of migration 7: it
--          adopts a reference to the routed target, else gets a new ticket
--          there (one managed link per item and connector).
DROP FUNCTION closeloop_push_select(text, text, text, text, text, boolean);
CREATE FUNCTION closeloop_push_select(
    p_connector text, p_target text, p_def_connector text, p_def_target text,
    p_ref_connector text, p_creating boolean)
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
                   AND r.connector = p_ref_connector AND r.target = p_target
                 ORDER BY r.id LIMIT 1)
          FROM (SELECT DISTINCT id FROM cand) cand
         WHERE NOT EXISTS (SELECT 1 FROM external_link l WHERE l.action_item_id = cand.id
                              AND l.kind = 'managed' AND l.connector = p_connector)
    )
    SELECT sel.link, sel.item, sel.ref FROM sel
     ORDER BY sel.item;
END $$;
