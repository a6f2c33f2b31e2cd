-- 013_watch_labels.sql — closeloop:* labels on tickets for open flags
-- (daemon/watch/watch_label.c; flags.labels in the configuration).
--
-- A ticket that carries an open flag of a labelled kind gets the label
-- '<prefix><kind>' (default prefix 'closeloop:', e.g. closeloop:overdue),
-- and 'closeloop:escalated' while an escalation sent for an open flag of
-- its item stands; the label comes off when the flag clears.  Only
-- connectors with the label operation (connector.h) take part; their
-- names come in p_opts.
--
-- One row of ticket_label per (link, label) is the whole state: want
-- (should be on the ticket) and applied (closeloop put it there and has
-- not taken it off).  A row with want <> applied has work to do; the
-- write itself is idempotent (connector.h), so a claim lost to a crash is
-- simply taken again after its lease.  closeloop only ever takes off a
-- label it put on (applied), so a label a person set — in its namespace
-- or not — is never touched, and a label a person took off is not put
-- back while the flag stays raised.
-- Documented in docs/schema.md ("Flags and escalation").

CREATE TABLE ticket_label (
    id          bigserial PRIMARY KEY,
    link_id     bigint NOT NULL REFERENCES external_link(id),
    label       text NOT NULL,                 -- 'closeloop:overdue'
    want        boolean NOT NULL,              -- should be on the ticket
    applied     boolean NOT NULL DEFAULT false, -- put on by closeloop and not taken off
    attempts    integer NOT NULL DEFAULT 0,    -- failed writes since want last changed
    changed_at  timestamptz NOT NULL,          -- want last changed
    done_at     timestamptz,                   -- last successful write
    claimed_at  timestamptz,                   -- a write in flight (lease)
    claimed_by  text,
    last_error  text,
    UNIQUE (link_id, label)
);
CREATE INDEX ticket_label_todo_idx ON ticket_label (id) WHERE want <> applied;

-- Bring ticket_label.want in line with the open flags at p_now.  p_opts:
--   {"prefix": "closeloop:", "kinds": ["overdue", "escalated", ...],
--    "connectors": ["github-main", ...]}   (connectors with labels)
-- Set-based: one statement whatever the number of items.  Runs under its
-- own transaction advisory lock (several daemons one after the other).
-- Returns the number of rows whose want changed.
CREATE FUNCTION closeloop_labels_plan(p_now timestamptz, p_opts jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_prefix text := coalesce(p_opts->>'prefix', 'closeloop:');
    v_kinds text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_opts->'kinds', '[]')));
    v_conns text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_opts->'connectors', '[]')));
    v_n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7164223648653143923); -- "closelop" + 3: labels
    WITH want AS (
        SELECT l.id AS link_id, v_prefix || f.kind AS label
          FROM item_flag f
          JOIN external_link l ON l.action_item_id = f.action_item_id
         WHERE f.cleared_at IS NULL AND f.kind = ANY (v_kinds)
           AND l.kind = 'managed' AND l.state = 'linked' AND l.connector = ANY (v_conns)
        UNION
        SELECT l.id, v_prefix || 'escalated'
          FROM escalation e
          JOIN item_flag f ON f.id = e.flag_id AND f.cleared_at IS NULL
          JOIN external_link l ON l.action_item_id = e.action_item_id
         WHERE 'escalated' = ANY (v_kinds) AND e.state = 'sent'
           AND l.kind = 'managed' AND l.state = 'linked' AND l.connector = ANY (v_conns)
    ), up AS (
        INSERT INTO ticket_label AS t (link_id, label, want, changed_at)
        SELECT w.link_id, w.label, true, v_now FROM want w
        ON CONFLICT (link_id, label) DO UPDATE
           SET want = true, attempts = 0, last_error = NULL, changed_at = v_now
         WHERE NOT t.want
        RETURNING 1
    ), down AS (
        UPDATE ticket_label t SET want = false, attempts = 0, last_error = NULL, changed_at = v_now
         WHERE t.want
           AND NOT EXISTS (SELECT 1 FROM want w WHERE w.link_id = t.link_id AND w.label = t.label)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM down) INTO v_n;
    RETURN v_n;
END $$;

-- Take up to p_limit label writes, each by exactly one caller (FOR UPDATE
-- SKIP LOCKED), on linked tickets only: rows with want <> applied that
-- are not claimed (or whose claim is older than p_lease_s seconds) and
-- have failed fewer than 5 times since want last changed.  r_on: put the
-- label on (true) or take it off (false).
CREATE FUNCTION closeloop_labels_claim(p_now timestamptz, p_by text, p_limit integer,
                                       p_lease_s integer)
RETURNS TABLE(r_id bigint, r_on boolean, r_label text, r_connector text, r_target text,
              r_remote_key text, r_remote_id text, r_extra text)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
BEGIN
    RETURN QUERY
    WITH c AS (
        SELECT t.id FROM ticket_label t JOIN external_link l ON l.id = t.link_id
         WHERE t.want <> t.applied AND t.attempts < 5 AND l.state = 'linked'
           AND (t.claimed_at IS NULL OR t.claimed_at < v_now - make_interval(secs => p_lease_s))
         ORDER BY t.id
         LIMIT p_limit
           FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE ticket_label t SET claimed_at = v_now, claimed_by = p_by
      FROM c, external_link l
     WHERE t.id = c.id AND l.id = t.link_id
    RETURNING t.id, t.want, t.label, l.connector, l.target, l.remote_key, l.remote_id,
              l.remote_extra::text;
END $$;

-- Record one claimed write: p_on what was asked, p_ok whether the tracker
-- did it (else p_error, retried on the next run, at most 5 times).  On
-- success p_extra (the connector's extra after the change, may be NULL)
-- replaces the link's remote_extra, so that a later update rewriting the
-- ticket's labels keeps this one.  Returns false when the row was not
-- claimed (nothing written).
CREATE FUNCTION closeloop_labels_done(p_id bigint, p_on boolean, p_ok boolean, p_error text,
                                      p_extra jsonb, p_now timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_link bigint;
BEGIN
    UPDATE ticket_label SET
        applied = CASE WHEN p_ok THEN p_on ELSE applied END,
        attempts = CASE WHEN p_ok THEN 0 ELSE attempts + 1 END,
        last_error = CASE WHEN p_ok THEN NULL ELSE p_error END,
        done_at = CASE WHEN p_ok THEN coalesce(p_now, now()) ELSE done_at END,
        claimed_at = NULL, claimed_by = NULL
     WHERE id = p_id AND claimed_at IS NOT NULL
    RETURNING link_id INTO v_link;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_ok AND p_extra IS NOT NULL THEN
        UPDATE external_link SET remote_extra = p_extra WHERE id = v_link;
    END IF;
    RETURN true;
END $$;

-- Labels on tickets: what is wanted, what closeloop has put on, and what
-- is stuck (attempts >= 5: the tracker keeps refusing; see last_error).
CREATE VIEW v_ticket_label AS
SELECT t.id, t.label, l.connector, coalesce(l.remote_key, l.target) AS ticket,
       l.action_item_id, t.want, t.applied,
       CASE WHEN t.want = t.applied THEN 'done'
            WHEN t.attempts >= 5 THEN 'stuck'
            WHEN t.claimed_at IS NOT NULL THEN 'sending'
            ELSE 'pending' END AS state,
       t.attempts, t.changed_at, t.done_at, t.last_error
  FROM ticket_label t JOIN external_link l ON l.id = t.link_id;

GRANT SELECT ON v_ticket_label TO closeloop_reader;
