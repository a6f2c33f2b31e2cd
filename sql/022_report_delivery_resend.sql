-- 022_report_delivery_resend.sql — the quarterly report's deliveries
-- effectively once instead of at most once (docs/report.md "Delivery",
-- docs/schema.md "Report deliveries").
--
-- Migration 14 never sent again a delivery whose answer was lost
-- ('unknown') or whose daemon stopped while sending (a 'sending' claim
-- past its one-hour lease): at most once.  Every send of a delivery row
-- carries the same id — the webhook's Idempotency-Key and the mail's
-- Message-ID are "closeloop-report-QUARTER-PLATFORM-ROWID" — so a
-- destination that can recognise a repeat is now sent to again:
--
--   * 'unknown' rows of such a destination are claimed again at the next
--     run (at start, then every quarterly_report.check_interval), up to 5
--     attempts in all;
--   * a 'sending' row whose daemon is gone is claimed again at once, not
--     after the lease: the claiming session holds an advisory lock on the
--     row (two-key form, class 1668050803 = "clos", key = the row's id)
--     from the claim until the outcome is recorded, so a row whose lock
--     nobody holds has no live sender (a daemon killed between the send
--     and the record loses its connection and with it the lock).
--
-- Which destinations may be sent to again is the daemon's to say (p_dests,
-- "resend": true): a directory (a rewrite of the same file), a JSON
-- webhook (the receiver drops a repeated Idempotency-Key) and mail (a
-- repeat has the same Message-ID); a chat webhook (format = "slack") has
-- no way to drop a repeat, so its rows keep migration 14's at-most-once
-- rule: 'unknown' stays, a dead sender's claim becomes 'unknown'.

DROP FUNCTION closeloop_report_delivery_claim(text, integer, integer);

-- The advisory lock key of a delivery row (second half of the two-key form).
CREATE FUNCTION closeloop_report_delivery_lock_key(p_id bigint)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_id % 2147483647)::integer
$$;

-- Claim up to p_limit deliveries for p_by (p_dests: the configured
-- destinations, [{"name": "...", "resend": true|false, ...}]):
--   'pending';
--   'failed' whose last attempt is an hour old (fewer than 5 attempts);
--   'unknown' of a destination with "resend" (fewer than 5 attempts);
--   'sending' whose sender is gone (claim older than p_lease_s, or nobody
--   holds the row's advisory lock) of a directory or a "resend"
--   destination; of any other destination such a row becomes 'unknown'
--   and is not sent again.
-- The caller's session takes each claimed row's advisory lock and must
-- keep it (keep the connection) until closeloop_report_delivery_done has
-- recorded the outcome.  The claim commits before anything is sent.
-- r_again: the row was claimed before (a resend: same id).
CREATE FUNCTION closeloop_report_delivery_claim(p_by text, p_limit integer, p_lease_s integer,
                                                p_dests jsonb)
RETURNS TABLE (r_id bigint, r_quarter text, r_platform text, r_destination text,
               r_again boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_resend text[] := ARRAY(SELECT d->>'name' FROM jsonb_array_elements(coalesce(p_dests, '[]')) d
                              WHERE (d->>'resend')::boolean);
    v_stale timestamptz := now() - make_interval(secs => p_lease_s);
    r record;
BEGIN
    UPDATE report_delivery SET state = 'unknown',
           detail = 'the daemon ' || coalesce(claimed_by, '?') || ' stopped while sending it at '
                    || to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC; '
                    || 'it may have arrived, and this destination cannot recognise a repeat, '
                    || 'so it is not sent again'
     WHERE state = 'sending' AND dest_type <> 'directory' AND destination <> ALL (v_resend)
       AND (claimed_at < v_stale
            OR pg_try_advisory_xact_lock(1668050803, closeloop_report_delivery_lock_key(id)));
    FOR r IN
        WITH c AS (
            SELECT rd.id, rd.state AS prev FROM report_delivery rd
             WHERE rd.state = 'pending'
                OR (rd.state = 'failed' AND rd.attempts < 5 AND rd.claimed_at < now() - interval '1 hour')
                OR (rd.state = 'unknown' AND rd.attempts < 5 AND rd.destination = ANY (v_resend))
                OR (rd.state = 'sending'
                    AND (rd.dest_type = 'directory' OR rd.destination = ANY (v_resend))
                    AND (rd.claimed_at < v_stale
                         OR pg_try_advisory_xact_lock(1668050803,
                                                      closeloop_report_delivery_lock_key(rd.id))))
             ORDER BY rd.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED
        ), u AS (
            UPDATE report_delivery rd SET state = 'sending', claimed_at = now(), claimed_by = p_by,
                   attempts = rd.attempts + 1
              FROM c WHERE rd.id = c.id
            RETURNING rd.id, rd.quarter, rd.platform_id, rd.destination, c.prev
        )
        SELECT u.id, u.quarter, pl.name, u.destination, u.prev IN ('sending', 'unknown') AS again
          FROM u JOIN platform pl ON pl.id = u.platform_id
         ORDER BY u.id
    LOOP
        PERFORM pg_advisory_lock(1668050803, closeloop_report_delivery_lock_key(r.id));
        r_id := r.id;
        r_quarter := r.quarter;
        r_platform := r.name;
        r_destination := r.destination;
        r_again := r.again;
        RETURN NEXT;
    END LOOP;
END $$;
