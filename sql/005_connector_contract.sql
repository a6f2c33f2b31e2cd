-- 005_connector_contract.sql — partial writes of the connector contract
-- (connectors/connector.h, daemon/reconcile/plan.h).
--
-- A tracker may refuse one field of an update (a workflow with no
-- transition to the wanted state, a required resolution code, an owner it
-- cannot assign) and apply the others.  The refusal is kept on the link
-- with the tracker's reason; reconcile does not push that field again
-- until the ledger value changes or the back-off (refusal_backoff) expires.

ALTER TABLE external_link
    -- {"owner": {"value": "alice", "reason": "...", "at_ms": ..., "retry_ms": ...}, ...}
    -- NULL: nothing refused
    ADD COLUMN refused jsonb,
    -- the earliest retry_ms of refused, for the push pass to come back then
    ADD COLUMN refused_retry_at timestamptz;

CREATE INDEX external_link_refused_retry ON external_link (connector, target, refused_retry_at)
    WHERE refused_retry_at IS NOT NULL;

-- closeloop_rec_apply (003) with the link's refusals: p_refused NULL keeps
-- them as they are, '{}' clears them.  Written only when the merge was
-- written (the same version check).
CREATE FUNCTION closeloop_rec_apply(
    p_link bigint, p_expected_version bigint, p_pull jsonb, p_base jsonb,
    p_remote_id text, p_remote_key text, p_url text,
    p_remote_updated_at timestamptz, p_etag text, p_remote_extra jsonb,
    p_source text, p_conflicts jsonb, p_connector text, p_refused jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
    v_refused jsonb := nullif(p_refused, '{}'::jsonb);
BEGIN
    v_version := closeloop_rec_apply(p_link, p_expected_version, p_pull, p_base,
                                     p_remote_id, p_remote_key, p_url, p_remote_updated_at,
                                     p_etag, p_remote_extra, p_source, p_conflicts, p_connector);
    IF v_version IS NOT NULL AND p_refused IS NOT NULL THEN
        UPDATE external_link SET
            refused = v_refused,
            refused_retry_at = (SELECT to_timestamp(min((e.value->>'retry_ms')::bigint) / 1000.0)
                                  FROM jsonb_each(coalesce(v_refused, '{}'::jsonb)) AS e)
         WHERE id = p_link AND refused IS DISTINCT FROM v_refused;
    END IF;
    RETURN v_version;
END $$;
