-- 046_link_broken_claimed.sql — `link_broken` also for a reference left
-- broken as 'claimed' (docs/reconcile.md "One ticket, one item";
-- docs/schema.md "Flags and escalation").
--
-- An item naming a ticket that another item of the connector already
-- holds keeps its reference broken with broken_reason = 'claimed' and
-- last_error naming the ticket and both items (daemon/reconcile/rec_op.c
-- rec_op_claimed).  Until now that raised one warning and one item_event
-- only: link_broken counted managed links, so the SRE's views
-- (v_item_flag_open, the closeloop:link_broken label, escalation rungs on
-- link_broken) never showed that the postmortem names one ticket twice.
--
-- closeloop_flags_current of 033 (kept as closeloop_flags_managed) with its
-- link_broken rows joined to the item's claimed references: one flag per
-- item, detail {links: [...]}, a claimed reference's entry
-- {connector, key, reason: 'claimed', error: last_error} after the managed
-- links' entries.  Like a managed link's, for the item whatever its state;
-- flags.disable = ["link_broken"] turns both off.  The flag clears ("no
-- broken link any more") when the reference leaves the item.

CREATE INDEX external_link_claimed ON external_link (action_item_id)
    WHERE broken_reason = 'claimed' AND kind = 'reference';

ALTER FUNCTION closeloop_flags_current(timestamptz, jsonb) RENAME TO closeloop_flags_managed;
CREATE FUNCTION closeloop_flags_current(p_now timestamptz, p_opts jsonb)
RETURNS TABLE(kind text, postmortem_id bigint, action_item_id bigint, detail jsonb)
LANGUAGE sql STABLE SET jit = off AS $$
WITH f AS MATERIALIZED (
    SELECT * FROM closeloop_flags_managed(p_now, p_opts)
), claimed AS (
    SELECT ai.postmortem_id, ai.id AS action_item_id,
           jsonb_agg(jsonb_build_object(
               'connector', l.connector, 'key', coalesce(l.remote_key, l.target),
               'reason', 'claimed', 'error', l.last_error) ORDER BY l.id) AS links
      FROM external_link l JOIN action_item ai ON ai.id = l.action_item_id
     WHERE NOT (coalesce(p_opts->'disable', '[]'::jsonb) ? 'link_broken')
       AND l.broken_reason = 'claimed' AND l.kind = 'reference' AND l.state = 'broken'
     GROUP BY ai.postmortem_id, ai.id
)
SELECT f.kind, f.postmortem_id, f.action_item_id, f.detail FROM f WHERE f.kind <> 'link_broken'
UNION ALL
SELECT 'link_broken', coalesce(m.postmortem_id, c.postmortem_id),
       coalesce(m.action_item_id, c.action_item_id),
       jsonb_build_object('links', coalesce(m.detail->'links', '[]'::jsonb)
                                   || coalesce(c.links, '[]'::jsonb))
  FROM (SELECT * FROM f WHERE f.kind = 'link_broken') m
  FULL JOIN claimed c ON c.action_item_id = m.action_item_id
$$;
