-- 006_connector_status.sql — what a daemon (or `closeloop sync --once`)
-- last knew about each connector, for `closeloop status`, which runs as a
-- separate process and reads it here.
--
-- One row per connector, upserted at the end of a cycle that did work,
-- failed, or left writes queued, and at most once a minute otherwise
-- (daemon only), so a quiet `sync --once` writes nothing.

CREATE TABLE connector_status (
    connector        text PRIMARY KEY,
    -- the last reconcile cycle of this connector
    cycle_started_at timestamptz,
    cycle_ended_at   timestamptz,
    cycle_ms         bigint,
    cycle_errors     integer,
    -- the paced write queue (connectors/pace.h)
    writes_queued    integer NOT NULL DEFAULT 0,
    queue_drains_at  timestamptz,
    blocked_until    timestamptz,      -- a rate-limit stop of the whole connector
    -- the tracker's primary budget as its last answer reported it
    rate_limit       bigint,
    rate_remaining   bigint,
    rate_reset_at    timestamptz,
    -- request counters of the process that wrote the row, since it started:
    -- {"list":..,"get":..,"create":..,"update":..,"comment":..,"search":..,
    --  "not_modified":..,"retries":..,"rate_limited":..}
    requests         jsonb NOT NULL DEFAULT '{}',
    written_by       text NOT NULL,     -- "daemon" or "sync --once", and the pid
    updated_at       timestamptz NOT NULL DEFAULT now()
);
