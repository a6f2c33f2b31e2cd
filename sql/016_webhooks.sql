-- 016_webhooks.sql — webhook deliveries (daemon/hooks/, docs/schema.md
-- "Webhook deliveries").
--
-- One row per verified delivery a daemon accepted: the primary key makes a
-- delivery count once across every daemon (GitHub keeps X-GitHub-Delivery
-- on a redelivery), and the row's insert notifies every daemon on channel
-- closeloop_hook (payload: the connector name), so the daemon that holds
-- the connector's lock pulls, whichever daemon received the delivery.
CREATE TABLE webhook_delivery (
    connector    text NOT NULL,
    delivery_id  text NOT NULL,
    event        text NOT NULL,          -- 'issues.edited'
    kind         text NOT NULL CHECK (kind IN ('changed', 'transferred', 'deleted')),
    target       text,
    remote_id    text,
    remote_key   text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    received_by  text,                   -- 'daemon pid 1234'
    outcome      text,                   -- what the delivery did to links
    PRIMARY KEY (connector, delivery_id)
);
CREATE INDEX webhook_delivery_recent_idx ON webhook_delivery (connector, received_at DESC);

CREATE FUNCTION closeloop_webhook_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('closeloop_hook', NEW.connector);
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_delivery_notify AFTER INSERT ON webhook_delivery
    FOR EACH ROW EXECUTE FUNCTION closeloop_webhook_notify();

-- Record a delivery and apply what it says about a link; one call, one
-- transaction.  Returns 'duplicate' when the delivery was known, else what
-- it did: 'pull' (the engine pulls the target), 'broken' (issues.deleted:
-- the link is broken 'gone'; the item is never closed for it),
-- 'repointed' (transferred to a target this connector serves: the link
-- follows, new id and key), 'moved' (transferred elsewhere: the link is
-- broken 'moved' and says where), or 'unlinked' (no link has the ticket).
CREATE FUNCTION closeloop_webhook_delivery(
    p_connector text, p_delivery text, p_event text, p_kind text,
    p_target text, p_remote_id text, p_key text,
    p_new_target text, p_new_remote_id text, p_new_key text, p_new_served boolean,
    p_by text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    v_outcome text := 'pull';
BEGIN
    INSERT INTO webhook_delivery (connector, delivery_id, event, kind, target, remote_id,
                                  remote_key, received_by)
    VALUES (p_connector, p_delivery, p_event, p_kind, p_target, p_remote_id, p_key, p_by)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 'duplicate';
    END IF;
    IF p_kind = 'deleted' THEN
        UPDATE external_link SET state = 'broken', broken_reason = 'gone',
               last_error = 'deleted in the tracker (' || p_event || ' delivery ' || p_delivery || ')',
               updated_at = now()
         WHERE connector = p_connector AND remote_id = p_remote_id
           AND kind = 'managed' AND state = 'linked';
        GET DIAGNOSTICS n = ROW_COUNT;
        v_outcome := CASE WHEN n > 0 THEN 'broken' ELSE 'unlinked' END;
    ELSIF p_kind = 'transferred' AND p_new_served THEN
        UPDATE external_link SET remote_id = p_new_remote_id, remote_key = p_new_key,
               target = p_new_target, url = NULL, etag = NULL, state = 'linked',
               broken_reason = NULL, last_error = NULL, updated_at = now()
         WHERE connector = p_connector AND remote_id = p_remote_id AND kind = 'managed'
           AND NOT EXISTS (SELECT 1 FROM external_link o
                            WHERE o.connector = p_connector AND o.remote_id = p_new_remote_id
                              AND o.id <> external_link.id);
        GET DIAGNOSTICS n = ROW_COUNT;
        v_outcome := CASE WHEN n > 0 THEN 'repointed' ELSE 'unlinked' END;
    ELSIF p_kind = 'transferred' THEN
        UPDATE external_link SET state = 'broken', broken_reason = 'moved',
               last_error = 'transferred to ' || p_new_key || ', which this connector does '
                            'not serve (add ' || p_new_target || ' to its targets to follow it)',
               updated_at = now()
         WHERE connector = p_connector AND remote_id = p_remote_id
           AND kind = 'managed' AND state = 'linked';
        GET DIAGNOSTICS n = ROW_COUNT;
        v_outcome := CASE WHEN n > 0 THEN 'moved' ELSE 'unlinked' END;
    END IF;
    UPDATE webhook_delivery SET outcome = v_outcome
     WHERE connector = p_connector AND delivery_id = p_delivery;
    RETURN v_outcome;
END $$;
