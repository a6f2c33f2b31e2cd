-- 014_report_delivery.sql — the quarterly report's deliveries: one row per
-- (quarter, platform, destination), written before the report is sent
-- (the intent) and updated after, so that across restarts and several
-- daemons on one ledger each platform's report of a quarter reaches each
-- of its destinations once (docs/report.md "Delivery", docs/schema.md).
--
-- States:
--   pending  armed: the quarter has ended and the destination serves the
--            platform; nobody has claimed it yet
--   sending  claimed by claimed_by at claimed_at: the report is being
--            produced and sent now
--   sent     delivered (sent_at)
--   failed   certainly not delivered (refused, unreachable); claimed again
--            an hour later, at most 5 attempts in all
--   unknown  the answer was lost after the report went out, or the daemon
--            stopped while sending: it may have arrived, so it is never
--            sent again on its own (see detail; an operator may set the
--            row back to 'pending' to send it again)
CREATE TABLE report_delivery (
    id           bigserial PRIMARY KEY,
    quarter      text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    platform_id  bigint NOT NULL REFERENCES platform(id) ON DELETE CASCADE,
    destination  text NOT NULL,
    dest_type    text NOT NULL CHECK (dest_type IN ('directory', 'webhook', 'smtp')),
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    armed_at     timestamptz NOT NULL DEFAULT now(),
    armed_by     text NOT NULL,
    claimed_at   timestamptz,
    claimed_by   text,
    attempts     integer NOT NULL DEFAULT 0,
    sent_at      timestamptz,
    detail       text,
    UNIQUE (quarter, platform_id, destination)
);
CREATE INDEX report_delivery_open_idx ON report_delivery (id)
    WHERE state IN ('pending', 'sending', 'failed');

-- Arm the deliveries of quarter p_quarter: one 'pending' row per platform
-- and destination in p_dests (JSON [{"name": "...", "type": "...",
-- "platforms": ["..."] | null}], null = every platform) that has none yet.
-- Idempotent; two daemons arming at once make one row.  Returns the number
-- of rows made.
CREATE FUNCTION closeloop_report_delivery_arm(p_quarter text, p_dests jsonb, p_by text)
RETURNS integer LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO report_delivery (quarter, platform_id, destination, dest_type, armed_by)
        SELECT p_quarter, pl.id, d->>'name', d->>'type', p_by
          FROM platform pl
         CROSS JOIN jsonb_array_elements(p_dests) d
         WHERE jsonb_typeof(d->'platforms') IS DISTINCT FROM 'array'
            OR (d->'platforms') ? pl.name
        ON CONFLICT (quarter, platform_id, destination) DO NOTHING
        RETURNING 1)
    SELECT count(*)::integer FROM ins
$$;

-- Claim up to p_limit deliveries for p_by: 'pending' ones, 'failed' ones
-- whose last attempt is an hour old (fewer than 5 attempts), and
-- 'sending' ones whose claim is older than p_lease_s (their daemon
-- stopped): of those, a directory is written again (a rewrite of the same
-- file is harmless), anything else becomes 'unknown' and is not sent
-- again.  The claim commits before anything is sent.
CREATE FUNCTION closeloop_report_delivery_claim(p_by text, p_limit integer, p_lease_s integer)
RETURNS TABLE (r_id bigint, r_quarter text, r_platform text, r_destination text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE report_delivery SET state = 'unknown',
           detail = 'the daemon ' || coalesce(claimed_by, '?') || ' stopped while sending it at '
                    || to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC; '
                    || 'it may have arrived, so it is not sent again'
     WHERE state = 'sending' AND dest_type <> 'directory'
       AND claimed_at < now() - make_interval(secs => p_lease_s);
    RETURN QUERY
    WITH c AS (
        SELECT rd.id FROM report_delivery rd
         WHERE rd.state = 'pending'
            OR (rd.state = 'failed' AND rd.attempts < 5 AND rd.claimed_at < now() - interval '1 hour')
            OR (rd.state = 'sending' AND rd.claimed_at < now() - make_interval(secs => p_lease_s))
         ORDER BY rd.id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), u AS (
        UPDATE report_delivery rd SET state = 'sending', claimed_at = now(), claimed_by = p_by,
               attempts = rd.attempts + 1
          FROM c WHERE rd.id = c.id
        RETURNING rd.id, rd.quarter, rd.platform_id, rd.destination
    )
    SELECT u.id, u.quarter, pl.name, u.destination
      FROM u JOIN platform pl ON pl.id = u.platform_id
     ORDER BY u.id;
END $$;

-- Record the outcome of a claimed delivery: p_state 'sent', 'failed' or
-- 'unknown'.  Only the claimer's own row in state 'sending' changes;
-- returns false otherwise (nothing written).
CREATE FUNCTION closeloop_report_delivery_done(p_id bigint, p_by text, p_state text,
                                               p_detail text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_state NOT IN ('sent', 'failed', 'unknown') THEN
        RAISE EXCEPTION 'closeloop_report_delivery_done: state % (expected sent, failed or unknown)',
                        p_state;
    END IF;
    UPDATE report_delivery SET state = p_state, detail = p_detail,
           sent_at = CASE WHEN p_state = 'sent' THEN now() END
     WHERE id = p_id AND state = 'sending' AND claimed_by = p_by;
    RETURN FOUND;
END $$;

-- For dashboards: every delivery with its platform's name.
CREATE VIEW v_report_delivery AS
SELECT rd.id, rd.quarter, pl.name AS platform, rd.destination, rd.dest_type, rd.state,
       rd.attempts, rd.armed_at, rd.claimed_at, rd.sent_at, rd.detail
  FROM report_delivery rd
  JOIN platform pl ON pl.id = rd.platform_id;

GRANT SELECT ON v_report_delivery TO closeloop_reader;
