-- 002_import.sql — what the importer last read from a postmortem document.
--
-- action_item.imported holds the canonical fields of the item as the
-- document said them at the last import: {"title", "description", "state",
-- "priority", "type", "owner", "due_date", "team_id"} (strings or null).
-- A re-import overwrites a field only when the document's value differs
-- from this snapshot, so an edit made since in a tracker (or by SQL) is
-- never reverted by importing the same, unchanged document again.
-- NULL for items that were not created by the importer.
ALTER TABLE action_item ADD COLUMN imported jsonb;
