-- 045_link_unconfirmed.sql — the values an update sent whose outcome
-- closeloop never learned, so that the ticket holding them next is read as
-- closeloop's own write and not as a person's edit.
--
-- An update of a ticket may be carried out by the tracker while its
-- answer is lost: a time-out after the request was carried out, a 5xx or
-- a truncated body after it, or one step of several answered and the next
-- failed (GitHub: the managed labels added with a POST, then the GET or
-- PATCH that follows failing).  The link's base then stays at the old
-- value while the ticket holds the new one.  When the ledger changed
-- again before the next merge (a person's SQL edit, or a value pulled
-- from the item's ticket in another tracker), that merge took the
-- ticket's value for a change on the tracker: both sides changed, a
-- conflict, and under remote_wins (or newest_wins, the write being the
-- later) closeloop's own stale value won over the newer edit, which was
-- lost (seed 37 of the model-based soak, issue 6).
--
--   external_link.unconfirmed  {field: value sent} of the updates that
--                              failed since the link's last merge write
--                              (the latest value per field); NULL when none.
--                              The planner takes a field whose ticket value
--                              is the one sent (and not the base's) as
--                              holding its base: the ledger's value is
--                              pushed.  Cleared by the next merge write.
--
-- closeloop_rec_link_error gains the values sent ($5, NULL: not an update,
-- or nothing sent); the four-argument form stays for callers that send
-- none.  The trigger external_link_unconfirmed_clear empties the column
-- when a merge write sets the link's base.

ALTER TABLE external_link ADD COLUMN unconfirmed jsonb;

CREATE FUNCTION closeloop_rec_link_error(p_link bigint, p_error text, p_count integer,
                                         p_source text, p_unconfirmed jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM closeloop_rec_link_error(p_link, p_error, p_count, p_source);
    IF p_unconfirmed IS NOT NULL AND p_unconfirmed <> '{}'::jsonb THEN
        UPDATE external_link SET unconfirmed = coalesce(unconfirmed, '{}'::jsonb) || p_unconfirmed
         WHERE id = p_link;
    END IF;
END $$;

-- Any merge write (closeloop_rec_apply sets the link's base) clears it:
-- the base written is the ticket as that merge read it.
CREATE FUNCTION external_link_unconfirmed_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.unconfirmed := NULL;
    RETURN NEW;
END $$;

CREATE TRIGGER external_link_unconfirmed_clear BEFORE UPDATE OF base ON external_link
    FOR EACH ROW WHEN (OLD.unconfirmed IS NOT NULL)
    EXECUTE FUNCTION external_link_unconfirmed_clear();
