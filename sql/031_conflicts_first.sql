-- 031_conflicts_first.sql — a conflict is recorded before the tracker
-- write that resolves it (daemon/reconcile/rec_link.c).  Until now the
-- conflicts of a merge were written by closeloop_rec_apply, after the
-- tracker write: a daemon killed between the two left the resolution on
-- the ticket and the conflict nowhere (the next cycle sees both sides
-- equal).  Now, when a merge with conflicts must update the ticket, its
-- conflicts are committed first with this function, and the merge's
-- closeloop_rec_apply gets none.

-- Record the conflicts of one link's merge in item_event, as
-- closeloop_rec_apply writes them (field 'conflict', old_value the ledger
-- value, new_value the chosen one, detail {field, ledger, remote, base,
-- policy, chosen}).
--   p_link        external_link.id
--   p_conflicts   [{field, ledger, remote, base, policy, chosen}, ...]
--   p_source      'reconcile:<connector>'
-- A conflict whose field, ledger and remote values equal the item's latest
-- conflict event for that field is not recorded again: a cycle that
-- recorded it and whose tracker write then failed (or whose daemon died)
-- meets the same conflict again.  Returns the number recorded.
CREATE FUNCTION closeloop_rec_conflicts(p_link bigint, p_conflicts jsonb, p_source text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_item bigint;
    c      jsonb;
    n      integer := 0;
BEGIN
    PERFORM set_config('closeloop.source', p_source, true);
    SELECT action_item_id INTO v_item FROM external_link WHERE id = p_link;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'closeloop_rec_conflicts: external_link % does not exist', p_link;
    END IF;
    FOR c IN SELECT value FROM jsonb_array_elements(coalesce(p_conflicts, '[]'::jsonb)) LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM (SELECT e.detail FROM item_event e
                            WHERE e.action_item_id = v_item AND e.field = 'conflict'
                              AND e.detail->>'field' = c->>'field'
                            ORDER BY e.id DESC LIMIT 1) AS last
             WHERE last.detail->'ledger' IS NOT DISTINCT FROM c->'ledger'
               AND last.detail->'remote' IS NOT DISTINCT FROM c->'remote');
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        VALUES (v_item, 'conflict', c->>'ledger',
                CASE WHEN c->>'chosen' = 'remote' THEN c->>'remote' ELSE c->>'ledger' END,
                p_source, closeloop_actor(), c);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
