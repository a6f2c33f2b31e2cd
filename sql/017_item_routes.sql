-- 017_item_routes.sql — one action item in several trackers
-- (docs/schema.md "Item routes", docs/reconcile.md).
--
-- item_route: a ticket wanted for an item in connector/target besides
-- its team's route (`closeloop link ITEM CONNECTOR TARGET [KEY]`); with a
-- KEY, a reference link to that ticket makes the push pass adopt it
-- instead of creating one.  At most one route per item and connector, as
-- there is at most one managed link per item and connector.
CREATE TABLE item_route (
    action_item_id bigint NOT NULL REFERENCES action_item(id),
    connector      text NOT NULL,
    target         text NOT NULL,
    added_at       timestamptz NOT NULL DEFAULT now(),
    added_by       text NOT NULL DEFAULT session_user,
    PRIMARY KEY (action_item_id, connector)
);
CREATE INDEX item_route_target_idx ON item_route (connector, target);

-- a new route needs a push pass (the ticket is created or adopted at once)
CREATE TRIGGER item_route_notify AFTER INSERT OR UPDATE ON item_route
    FOR EACH ROW EXECUTE FUNCTION team_notify();

-- Fan-out: a change reconcile pulled from one tracker into an item that has
-- tickets in other connectors too wakes every daemon's push pass at once
-- (payload: the source, "reconcile:<connector>"); action_item_history
-- notifies only for edits reconcile did not make.  The connector it came
-- from has nothing to push (its link already agrees), so nothing echoes.
CREATE FUNCTION closeloop_fanout_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('closeloop_ledger', closeloop_source());
    RETURN NULL;
END $$;
CREATE TRIGGER action_item_fanout AFTER UPDATE ON action_item
    FOR EACH ROW
    WHEN (NEW.version <> OLD.version AND cardinality(NEW.managed_connectors) > 1
          AND coalesce(current_setting('closeloop.source', true), '') LIKE 'reconcile%')
    EXECUTE FUNCTION closeloop_fanout_notify();

-- The push pass's selection (migration 7) with the hand-made routes.
CREATE OR REPLACE FUNCTION closeloop_push_select(
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
