-- 041_connector_status_backlog.sql — `closeloop status` shows, per
-- connector, the creates waiting for the creation budget and when the
-- backlog will have gone, as /metrics does
-- (closeloop_connector_creates_waiting,
-- closeloop_connector_backlog_drain_seconds): during a paced first sync
-- of thousands of items, the daemon's estimate of the time it has left.
--
--   creates_waiting    creates the connector's last full cycle left for a
--                      later one: no room in the creation budget within a
--                      minute (items with no ticket and no create intent
--                      yet; docs/reconcile.md "Writes paced")
--   backlog_drains_at  when the queued writes and those creates will all
--                      have gone at the configured spacing and budgets;
--                      NULL when nothing is queued or waiting
--
-- Rows written before this migration read 0 and NULL until the daemon's
-- next row.

ALTER TABLE connector_status
    ADD COLUMN creates_waiting   integer NOT NULL DEFAULT 0,
    ADD COLUMN backlog_drains_at timestamptz;
