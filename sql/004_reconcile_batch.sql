-- 004_reconcile_batch.sql — batched ledger writes of the reconcile engine
-- (daemon/rec_link.c): one statement for a batch of successful creates
-- instead of one closeloop_rec_created() call per link.

-- A batch of creates succeeded: each 'creating' link becomes 'linked',
-- exactly as closeloop_rec_created() does it for one link.
--   p_links   [{"link": 12, "version": 3, "base": {...seven fields...},
--               "remote_id": "...", "remote_key": "...", "url": "...",
--               "remote_updated_at": "2026-...Z", "etag": "...",
--               "remote_extra": "<json text>"}, ...]
--             (the ticket fields may be null; remote_extra is JSON text)
--   p_source  'reconcile:<connector>'
-- First tries the whole batch in one set-oriented UPDATE + INSERT; if that
-- fails (one element's bad value, a unique violation, ...) it writes the
-- elements one by one, each in its own subtransaction, so that one bad link
-- costs only itself.
-- Returns one row per link NOT written: r_error NULL when the link was not
-- in state 'creating' any more (nothing to do), else the error message.  An
-- empty result: every link was written.
CREATE OR REPLACE FUNCTION closeloop_rec_created_batch(p_links jsonb, p_source text)
RETURNS TABLE (r_link bigint, r_error text) LANGUAGE plpgsql AS $$
DECLARE
    v_skipped bigint[];
    e         jsonb;
    v_link    bigint;
BEGIN
    BEGIN
        WITH x AS (
            SELECT (v->>'link')::bigint AS link, (v->>'version')::bigint AS version,
                   v->'base' AS base, v->>'remote_id' AS remote_id,
                   v->>'remote_key' AS remote_key, v->>'url' AS url,
                   (v->>'remote_updated_at')::timestamptz AS remote_updated_at,
                   v->>'etag' AS etag, (v->>'remote_extra')::jsonb AS remote_extra
              FROM jsonb_array_elements(p_links) AS a(v)
        ), u AS (
            UPDATE external_link l SET
                state = 'linked', remote_id = x.remote_id, remote_key = x.remote_key,
                url = x.url, base = x.base, synced_version = x.version,
                remote_updated_at = x.remote_updated_at, etag = x.etag,
                remote_extra = x.remote_extra, last_error = NULL, error_count = 0,
                updated_at = now()
              FROM x
             WHERE l.id = x.link AND l.state = 'creating'
            RETURNING l.id, l.action_item_id, l.remote_key
        ), ev AS (
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            SELECT u.action_item_id, 'link', 'creating', 'created: ' || coalesce(u.remote_key, ''),
                   p_source, closeloop_actor()
              FROM u ORDER BY u.id
        )
        SELECT coalesce(array_agg(x.link), '{}') INTO v_skipped
          FROM x WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.id = x.link);
        RETURN QUERY SELECT s, NULL::text FROM unnest(v_skipped) AS s;
        RETURN;
    EXCEPTION WHEN OTHERS THEN
        NULL; -- the whole batch was rolled back: one by one below
    END;
    FOR e IN SELECT value FROM jsonb_array_elements(p_links) LOOP
        v_link := NULL;
        BEGIN
            v_link := (e->>'link')::bigint;
            IF NOT closeloop_rec_created(v_link, (e->>'version')::bigint, e->'base',
                                         e->>'remote_id', e->>'remote_key', e->>'url',
                                         (e->>'remote_updated_at')::timestamptz, e->>'etag',
                                         (e->>'remote_extra')::jsonb, p_source) THEN
                r_link := v_link;
                r_error := NULL;
                RETURN NEXT;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            r_link := v_link;
            r_error := SQLERRM;
            RETURN NEXT;
        END;
    END LOOP;
END $$;
