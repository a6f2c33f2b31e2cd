-- 044_discover_board.sql — the board of a discovery rule, kept in the
-- ledger (docs/schema.md "Discovery boards", docs/architecture.md
-- "Discovery", connectors/connector.h struct conn_board).
--
-- Some rules take the tickets that are items of a board (GitHub: a
-- Projects v2 board, `project = "OWNER/NUMBER"`): no ticket listing shows
-- that membership, so the connector reads the board itself, cheaply
-- probed (its update time and item count) and paged only when those
-- changed.  The board as last read -- its probe values and its members --
-- is kept here, so that a restarted daemon, `closeloop sync --once` or
-- the daemon taking the connector's lock over compares the probe with it
-- instead of paging the whole board, and sees a ticket taken off the board
-- while no daemon ran (a member here, no longer on the board) on its first
-- cycle.
--
--   discover_board         one row per (connector, target) whose rule
--                          reads a board: the rule it was read for, the
--                          board's update time and item count then, when
--                          it was read in full, and a version that every
--                          write raises (a daemon whose copy has another
--                          version loads the members again)
--   discover_board_member  the tickets of the target on the board that
--                          the rule takes, by the tracker's stable id,
--                          with the id the board's API reads them by
--
-- Only the daemon holding the connector's advisory lock writes
-- (closeloop_discover_board_save refuses a session that does not hold
-- it), after the listing that delivered the board's changes went through.

CREATE TABLE discover_board (
    connector text NOT NULL,
    target text NOT NULL,
    rule text NOT NULL,
    board_updated_at timestamptz NOT NULL,
    item_count bigint NOT NULL CHECK (item_count >= 0),
    read_at timestamptz NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, target)
);

CREATE TABLE discover_board_member (
    connector text NOT NULL,
    target text NOT NULL,
    remote_id text NOT NULL,
    node_id text,
    PRIMARY KEY (connector, target, remote_id),
    FOREIGN KEY (connector, target) REFERENCES discover_board ON DELETE CASCADE
);

-- Does this session hold connector p_connector's lock (the session
-- advisory lock reconcile takes: pg_try_advisory_lock(hashtext(
-- 'closeloop:connector:' || name)), daemon/reconcile/rec_sql.c)?  A
-- one-bigint key shows in pg_locks as classid (high 32 bits), objid (low
-- 32 bits) and objsubid 1.
CREATE FUNCTION closeloop_connector_lock_held(p_connector text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND objsubid = 1
           AND ((classid::bigint << 32) | objid::bigint)
               = hashtext('closeloop:connector:' || p_connector)::bigint)
$$;

-- Store the board of (p_connector, p_target) as one listing read it:
-- p_rule the rule's text (the connector's), p_updated_ms and p_count the
-- probe's update time (ms since the epoch, UTC) and item count,
-- p_read_ms when it was read in full, p_members a JSON array of
-- [remote_id, node_id or null] (every member: rows not in it are
-- deleted, new ones inserted, the others left alone, so a board that
-- changed little writes little).  Returns the row's new version.  Raises
-- when this session does not hold the connector's lock, or p_members is
-- not an array of [text, text or null].
CREATE FUNCTION closeloop_discover_board_save(p_connector text, p_target text, p_rule text,
                                              p_updated_ms bigint, p_count bigint,
                                              p_read_ms bigint, p_members jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
BEGIN
    IF NOT closeloop_connector_lock_held(p_connector) THEN
        RAISE EXCEPTION 'discover_board of %/%: this session does not hold the connector''s lock',
            p_connector, p_target USING ERRCODE = 'lock_not_available';
    END IF;
    IF jsonb_typeof(p_members) IS DISTINCT FROM 'array' OR EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_members) e
         WHERE jsonb_typeof(e) <> 'array' OR jsonb_typeof(e->0) IS DISTINCT FROM 'string'
            OR coalesce(jsonb_typeof(e->1), 'null') NOT IN ('string', 'null')) THEN
        RAISE EXCEPTION 'discover_board of %/%: members must be an array of [remote_id, node_id]',
            p_connector, p_target USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO discover_board AS b (connector, target, rule, board_updated_at, item_count,
                                     read_at, version)
    VALUES (p_connector, p_target, p_rule, to_timestamp(p_updated_ms / 1000.0), p_count,
            to_timestamp(p_read_ms / 1000.0), 1)
    ON CONFLICT (connector, target) DO UPDATE
       SET rule = EXCLUDED.rule, board_updated_at = EXCLUDED.board_updated_at,
           item_count = EXCLUDED.item_count, read_at = EXCLUDED.read_at,
           version = b.version + 1, written_at = now()
    RETURNING b.version INTO v_version;

    DELETE FROM discover_board_member m
     WHERE m.connector = p_connector AND m.target = p_target
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_members) e WHERE e->>0 = m.remote_id);
    INSERT INTO discover_board_member AS m (connector, target, remote_id, node_id)
    SELECT DISTINCT ON (e->>0) p_connector, p_target, e->>0, e->>1
      FROM jsonb_array_elements(p_members) e
    ON CONFLICT (connector, target, remote_id) DO UPDATE SET node_id = EXCLUDED.node_id
     WHERE m.node_id IS DISTINCT FROM EXCLUDED.node_id;
    RETURN v_version;
END
$$;
