-- 003_reconcile.sql — the ledger writes of the reconcile engine
-- (daemon/reconcile.c, daemon/rec_link.c).  Each function is one atomic
-- statement for the daemon: it sets closeloop.source for the transaction so
-- the history triggers record 'reconcile:<connector>' and do not NOTIFY.

-- Write the outcome of a three-way merge for one link.
--   p_link              external_link.id (a managed link, or a reference
--                       being adopted when p_connector is not NULL)
--   p_expected_version  action_item.version the merge was computed from;
--                       if the item changed since, NOTHING is written (the
--                       item, the link and its base stay as they were) and
--                       the function returns NULL: the engine merges again
--   p_pull              {"field": value, ...}: only the fields the ledger takes
--   p_base              the merged canonical fields (all seven keys)
--   p_remote_*          ticket metadata; NULL keeps the stored value
--   p_source            'reconcile:<connector>'
--   p_conflicts         [{field, ledger, remote, base, policy, chosen}, ...]
--   p_connector         when set, the link becomes kind 'managed' of this
--                       connector (adoption of a referenced ticket)
-- Returns the item's version after the write (the link's synced_version).
CREATE FUNCTION closeloop_rec_apply(
    p_link bigint, p_expected_version bigint, p_pull jsonb, p_base jsonb,
    p_remote_id text, p_remote_key text, p_url text,
    p_remote_updated_at timestamptz, p_etag text, p_remote_extra jsonb,
    p_source text, p_conflicts jsonb, p_connector text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_item    bigint;
    v_state   text;
    v_version bigint;
    c         jsonb;
BEGIN
    PERFORM set_config('closeloop.source', p_source, true);
    SELECT action_item_id, state INTO v_item, v_state
      FROM external_link WHERE id = p_link FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'closeloop_rec_apply: external_link % does not exist', p_link;
    END IF;
    UPDATE action_item SET
        title       = CASE WHEN p_pull ? 'title'       THEN p_pull->>'title'       ELSE title END,
        description = CASE WHEN p_pull ? 'description' THEN p_pull->>'description' ELSE description END,
        state       = CASE WHEN p_pull ? 'state'       THEN p_pull->>'state'       ELSE state END,
        priority    = CASE WHEN p_pull ? 'priority'    THEN p_pull->>'priority'    ELSE priority END,
        type        = CASE WHEN p_pull ? 'type'        THEN p_pull->>'type'        ELSE type END,
        owner       = CASE WHEN p_pull ? 'owner'       THEN p_pull->>'owner'       ELSE owner END,
        due_date    = CASE WHEN p_pull ? 'due_date'    THEN (p_pull->>'due_date')::date ELSE due_date END
     WHERE id = v_item AND version = p_expected_version
    RETURNING version INTO v_version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE external_link SET
        kind              = CASE WHEN p_connector IS NULL THEN kind ELSE 'managed' END,
        connector         = coalesce(p_connector, connector),
        state             = 'linked',
        remote_id         = coalesce(p_remote_id, remote_id),
        remote_key        = coalesce(p_remote_key, remote_key),
        url               = coalesce(p_url, url),
        base              = p_base,
        synced_version    = v_version,
        remote_updated_at = coalesce(p_remote_updated_at, remote_updated_at),
        etag              = coalesce(p_etag, etag),
        remote_extra      = coalesce(p_remote_extra, remote_extra),
        broken_reason     = NULL,
        last_error        = NULL,
        error_count       = 0,
        updated_at        = now()
     WHERE id = p_link;
    IF v_state <> 'linked' THEN
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
        VALUES (v_item, 'link', v_state,
                'linked: ' || coalesce(p_remote_key, (SELECT remote_key FROM external_link WHERE id = p_link), ''),
                p_source, closeloop_actor());
    END IF;
    FOR c IN SELECT value FROM jsonb_array_elements(coalesce(p_conflicts, '[]'::jsonb)) LOOP
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        VALUES (v_item, 'conflict', c->>'ledger',
                CASE WHEN c->>'chosen' = 'remote' THEN c->>'remote' ELSE c->>'ledger' END,
                p_source, closeloop_actor(), c);
    END LOOP;
    RETURN v_version;
END $$;

-- A create succeeded: the 'creating' link becomes 'linked'.  p_version is
-- the item version whose values were sent; if the item moved on since, the
-- next push pass sends the difference.  Returns false when the link was not
-- in state 'creating' any more (nothing written).
CREATE FUNCTION closeloop_rec_created(
    p_link bigint, p_version bigint, p_base jsonb,
    p_remote_id text, p_remote_key text, p_url text,
    p_remote_updated_at timestamptz, p_etag text, p_remote_extra jsonb,
    p_source text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_item bigint;
BEGIN
    UPDATE external_link SET
        state = 'linked', remote_id = p_remote_id, remote_key = p_remote_key, url = p_url,
        base = p_base, synced_version = p_version,
        remote_updated_at = p_remote_updated_at, etag = p_etag, remote_extra = p_remote_extra,
        last_error = NULL, error_count = 0, updated_at = now()
     WHERE id = p_link AND state = 'creating'
    RETURNING action_item_id INTO v_item;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
    VALUES (v_item, 'link', 'creating', 'created: ' || coalesce(p_remote_key, ''),
            p_source, closeloop_actor());
    RETURN true;
END $$;

-- The ticket behind a link is gone (404/410) or moved (301): tombstone the
-- link and record it in the item's history.  The item itself is never
-- touched (a vanished ticket is not a closed item).
CREATE FUNCTION closeloop_rec_broken(p_link bigint, p_reason text, p_error text, p_source text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_item bigint;
BEGIN
    UPDATE external_link SET state = 'broken', broken_reason = p_reason,
           last_error = p_error, updated_at = now()
     WHERE id = p_link AND state <> 'broken'
    RETURNING action_item_id INTO v_item;
    IF FOUND THEN
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
        VALUES (v_item, 'link', NULL, 'broken: ' || p_reason, p_source, closeloop_actor());
    END IF;
END $$;
