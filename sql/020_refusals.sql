-- 020_refusals.sql — a tracker's refusals in the item's history, and creates
-- it keeps refusing taken out of 'creating' (daemon/reconcile/rec_link.c).
--
-- 1. closeloop_rec_apply (005) also writes one item_event per field the
--    tracker newly refused in a partial write (field 'refused', new_value
--    "<field>: <reason>", detail {field, value, reason, connector}).  A
--    field refused again with the same value and reason after its back-off
--    is not a new event.
-- 2. closeloop_rec_link_error notes a failure on a link.  A 'creating' link
--    whose create the tracker refused for the fifth time becomes 'broken'
--    (broken_reason 'refused', with an item_event): it is no longer a
--    create in progress, so it stops holding every listing of its target
--    back to its intent, and it is never created again by itself.  The
--    operator fixes the cause (last_error says what the tracker refused)
--    and deletes the link; the next cycle then creates the ticket.

CREATE OR REPLACE FUNCTION closeloop_rec_apply(
    p_link bigint, p_expected_version bigint, p_pull jsonb, p_base jsonb,
    p_remote_id text, p_remote_key text, p_url text,
    p_remote_updated_at timestamptz, p_etag text, p_remote_extra jsonb,
    p_source text, p_conflicts jsonb, p_connector text, p_refused jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
    v_refused jsonb := nullif(p_refused, '{}'::jsonb);
    v_old jsonb;
    v_item bigint;
BEGIN
    SELECT refused, action_item_id INTO v_old, v_item FROM external_link WHERE id = p_link;
    v_version := closeloop_rec_apply(p_link, p_expected_version, p_pull, p_base,
                                     p_remote_id, p_remote_key, p_url, p_remote_updated_at,
                                     p_etag, p_remote_extra, p_source, p_conflicts, p_connector);
    IF v_version IS NOT NULL AND p_refused IS NOT NULL THEN
        UPDATE external_link SET
            refused = v_refused,
            refused_retry_at = (SELECT to_timestamp(min((e.value->>'retry_ms')::bigint) / 1000.0)
                                  FROM jsonb_each(coalesce(v_refused, '{}'::jsonb)) AS e)
         WHERE id = p_link AND refused IS DISTINCT FROM v_refused;
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        SELECT v_item, 'refused', NULL, e.key || ': ' || coalesce(e.value->>'reason', 'refused'),
               p_source, closeloop_actor(),
               jsonb_build_object('field', e.key, 'value', e.value->'value',
                                  'reason', e.value->'reason', 'connector', p_connector)
          FROM jsonb_each(coalesce(v_refused, '{}'::jsonb)) AS e
         WHERE v_old IS NULL OR NOT v_old ? e.key
            OR v_old->e.key->'value' IS DISTINCT FROM e.value->'value'
            OR v_old->e.key->'reason' IS DISTINCT FROM e.value->'reason';
    END IF;
    RETURN v_version;
END $$;

CREATE FUNCTION closeloop_rec_link_error(p_link bigint, p_error text, p_count integer,
                                         p_source text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_item bigint;
BEGIN
    UPDATE external_link SET last_error = p_error, error_count = error_count + p_count,
           updated_at = now()
     WHERE id = p_link;
    UPDATE external_link SET state = 'broken', broken_reason = 'refused', updated_at = now()
     WHERE id = p_link AND state = 'creating' AND kind = 'managed' AND error_count >= 5
    RETURNING action_item_id INTO v_item;
    IF FOUND THEN
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        VALUES (v_item, 'link', 'creating', 'broken: refused', p_source, closeloop_actor(),
                jsonb_build_object('error', p_error));
    END IF;
END $$;

-- links already stuck that way
WITH stuck AS (
    UPDATE external_link SET state = 'broken', broken_reason = 'refused', updated_at = now()
     WHERE state = 'creating' AND kind = 'managed' AND error_count >= 5
    RETURNING action_item_id, last_error)
INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
SELECT action_item_id, 'link', 'creating', 'broken: refused', 'migration', closeloop_actor(),
       jsonb_build_object('error', last_error)
  FROM stuck;
