-- 009_import_identity.sql — what the importer keeps about an item's place
-- in its postmortem document (issue 8).
--
-- action_item.removed_from_document_at: set when a re-import no longer
-- finds the item in the document (the item is kept, never deleted), and
-- cleared when it comes back.  NULL for items still in the document and
-- for items that did not come from a document.
-- action_item.horizon: the group the document lists the item under
-- ('Immediate', 'Short-term', 'Medium-term', 'Long-term'), or NULL.
-- action_item.estimate: effort as the document wrote it ('2d', '20m').
-- postmortem.team_as_written: the document's team when the directory does
-- not know it (or it names several teams, 'SN, SW'); the items are routed
-- by --team / the configured default instead.
-- postmortem.status: the document's own status (front matter), as written.
ALTER TABLE action_item ADD COLUMN removed_from_document_at timestamptz;
ALTER TABLE action_item ADD COLUMN horizon text;
ALTER TABLE action_item ADD COLUMN estimate text;
ALTER TABLE postmortem ADD COLUMN team_as_written text;
ALTER TABLE postmortem ADD COLUMN status text;
