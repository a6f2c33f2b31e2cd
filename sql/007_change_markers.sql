-- 007_change_markers.sql — cost proportional to change, not to size.
--
-- The push pass of each (connector, target) used to join every item with
-- every link to find the few that changed; at 100,000 items that was a
-- 228 ms join per target per cycle that returned nothing.  Two markers,
-- kept by triggers so that edits made with plain SQL keep them too, let
-- the pass find its work with index probes that return nothing when
-- nothing changed:
--
--   external_link.item_version   the linked item's current version; a
--                                link whose synced_version is behind it
--                                has ledger changes to push
--                                (external_link_push_idx)
--   action_item.managed_connectors  the connectors the item has a managed
--                                link with (sorted, distinct); an open item
--                                whose route's connector is not in it needs
--                                a ticket (action_item_route_idx), one with
--                                none at all has no route yet
--                                (action_item_unlinked_idx)

ALTER TABLE external_link ADD COLUMN item_version bigint NOT NULL DEFAULT 0;
UPDATE external_link l SET item_version = i.version FROM action_item i WHERE i.id = l.action_item_id;

ALTER TABLE action_item ADD COLUMN managed_connectors text[] NOT NULL DEFAULT '{}';
UPDATE action_item a SET managed_connectors = m.c
  FROM (SELECT action_item_id, array_agg(DISTINCT connector ORDER BY connector) AS c
          FROM external_link WHERE kind = 'managed' GROUP BY action_item_id) m
 WHERE m.action_item_id = a.id;

-- links of one item (the triggers below, and the foreign key)
CREATE INDEX external_link_item_idx ON external_link (action_item_id);
-- links with ledger changes not yet in their ticket
CREATE INDEX external_link_push_idx ON external_link (connector, target)
    WHERE kind = 'managed' AND state = 'linked' AND synced_version < item_version;
-- open items by team and the connectors they have tickets with: a push pass
-- reads, per team routed to it, the two ranges around ARRAY[connector]
CREATE INDEX action_item_route_idx ON action_item (team_id, managed_connectors)
    WHERE state NOT IN ('done', 'wont_do');
-- open items with no ticket at all (new items; the unrouted count)
CREATE INDEX action_item_unlinked_idx ON action_item (id)
    WHERE state NOT IN ('done', 'wont_do') AND managed_connectors = '{}';

-- A new or re-pointed link starts from its item's version.
CREATE FUNCTION external_link_item_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT version INTO NEW.item_version FROM action_item WHERE id = NEW.action_item_id;
    RETURN NEW;
END $$;
CREATE TRIGGER external_link_item_version BEFORE INSERT OR UPDATE OF action_item_id ON external_link
    FOR EACH ROW EXECUTE FUNCTION external_link_item_version();

-- An item's version moved: its links follow (only the item's own links are
-- touched, so the cost is that of the change).
CREATE FUNCTION action_item_links_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE external_link SET item_version = NEW.version
     WHERE action_item_id = NEW.id AND item_version <> NEW.version;
    RETURN NULL;
END $$;
-- (no 'UPDATE OF version': the version is set by a BEFORE trigger, which
-- 'OF' does not see)
CREATE TRIGGER action_item_links_version AFTER UPDATE ON action_item
    FOR EACH ROW WHEN (NEW.version <> OLD.version)
    EXECUTE FUNCTION action_item_links_version();

-- Recompute action_item.managed_connectors for the given items; writes
-- only the rows whose set changed.
CREATE FUNCTION closeloop_managed_connectors(p_items bigint[]) RETURNS void LANGUAGE sql AS $$
    UPDATE action_item a SET managed_connectors = m.c
      FROM (SELECT x.id, ARRAY(SELECT DISTINCT l.connector FROM external_link l
                                WHERE l.action_item_id = x.id AND l.kind = 'managed'
                                ORDER BY 1) AS c
              FROM unnest(p_items) AS x(id)) m
     WHERE a.id = m.id AND a.managed_connectors IS DISTINCT FROM m.c
$$;

-- Links inserted or deleted (one statement's rows, both triggers name
-- their transition table changed_links): recompute their items' sets.
CREATE FUNCTION external_link_managed_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_managed_connectors(ARRAY(SELECT DISTINCT action_item_id FROM changed_links
                                                WHERE kind = 'managed'));
    RETURN NULL;
END $$;
CREATE TRIGGER external_link_managed_ins AFTER INSERT ON external_link
    REFERENCING NEW TABLE AS changed_links
    FOR EACH STATEMENT EXECUTE FUNCTION external_link_managed_stmt();
CREATE TRIGGER external_link_managed_del AFTER DELETE ON external_link
    REFERENCING OLD TABLE AS changed_links
    FOR EACH STATEMENT EXECUTE FUNCTION external_link_managed_stmt();

CREATE FUNCTION external_link_managed_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_managed_connectors(ARRAY[OLD.action_item_id, NEW.action_item_id]);
    RETURN NULL;
END $$;
CREATE TRIGGER external_link_managed_upd AFTER UPDATE OF kind, connector, action_item_id ON external_link
    FOR EACH ROW WHEN ((OLD.kind, OLD.connector, OLD.action_item_id)
                       IS DISTINCT FROM (NEW.kind, NEW.connector, NEW.action_item_id))
    EXECUTE FUNCTION external_link_managed_upd();

-- The push pass of one (connector, target) (daemon/reconcile/rec_pass.c):
--   p_connector, p_target   the pass
--   p_def_connector, p_def_target   the configured default route (NULL: none)
--   p_ref_connector         connector column of bare references ('github')
--   p_creating              include links left 'creating' (after a recovery
--                           listing only)
-- Rows (r_link, r_item, r_ref): the link (NULL: none yet), the item, and a
-- reference ticket to adopt instead of creating (NULL: none), for
--   1. linked links of this target whose item moved past synced_version
--      (external_link_push_idx), or whose refused fields' back-off expired
--      (sql/005, external_link_refused_retry);
--   2. 'creating' links to create again (fewer than 5 refusals so far);
--   3. open items routed here with no managed link of this connector, with
--      the first reference to this target, if any, to adopt instead of
--      creating.  Per team routed here (and the team-less items when the
--      default route is here) the two ranges of action_item_route_idx on
--      either side of managed_connectors = {connector} are read: an item
--      with no ticket of this connector sorts there; items with tickets of
--      this connector only (all of them, once synced) sit between and are
--      never read.  Items also linked to another connector sort in the
--      upper range and are dropped by the final check.
-- Each arm is an index probe that returns nothing in a quiet cycle.  The
-- generic plan is kept for the session (planning this statement cost ~2 ms
-- of CPU per call, several times its execution, and a quiet cycle runs it
-- once per target); jit is off because the generic plan's estimates
-- ("a third of the links are dirty") would otherwise compile it each call.
-- The engine reads the columns of each row by primary key around it.
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
          FROM cand
         WHERE NOT EXISTS (SELECT 1 FROM external_link l WHERE l.action_item_id = cand.id
                              AND l.kind = 'managed' AND l.connector = p_connector)
    )
    SELECT sel.link, sel.item, sel.ref FROM sel
     ORDER BY sel.item;
END $$;
