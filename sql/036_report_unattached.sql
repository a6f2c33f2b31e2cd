-- 036_report_unattached.sql — the quarterly report shows the "unattached"
-- postmortems (migration 33: one per team, holding the action items
-- discovered in a tracker whose ticket names no postmortem) apart from
-- the postmortems written as documents (docs/report.md "Not attached to a
-- postmortem").
--
-- closeloop_report_unattached(quarter, platform, team): one row per
-- platform, team and unattached postmortem that held action items at the
-- quarter's end (point in time from item_span, as the figures; platform
-- and team as the figures name them): items held, opened in the quarter,
-- closed (done or won't do) in it, open at its end, overdue at its end.
-- These items count in the report's figures too; this says how many of
-- them no postmortem holds.  Reads only the buckets' items (action_item's
-- (postmortem_id, import_key) key, item_span's primary key), never every
-- item's span.
CREATE FUNCTION closeloop_report_unattached(p_quarter text, p_platform text DEFAULT NULL,
                                            p_team text DEFAULT NULL)
RETURNS TABLE (platform text, team text, reference text, items bigint, opened bigint,
               closed bigint, open_end bigint, overdue_end bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH q AS (
        SELECT closeloop_quarter_start(p_quarter) AS qs,
               closeloop_quarter_start(p_quarter) + interval '3 months' AS qe
    )
    SELECT coalesce(pl.name, '(no platform)'), coalesce(t.name, '(no team)'), pm.reference,
           count(*),
           count(*) FILTER (WHERE s.opened_at >= q.qs),
           count(*) FILTER (WHERE s.state IN ('done', 'wont_do') AND s.closed_at >= q.qs),
           count(*) FILTER (WHERE s.state NOT IN ('done', 'wont_do')),
           count(*) FILTER (WHERE s.state NOT IN ('done', 'wont_do')
                              AND s.due_date < (q.qe AT TIME ZONE 'UTC')::date)
      FROM q
      JOIN postmortem pm ON pm.kind = 'unattached'
      JOIN action_item i ON i.postmortem_id = pm.id
      JOIN item_span s ON s.action_item_id = i.id AND s.valid_from < q.qe AND s.valid_to >= q.qe
      LEFT JOIN team t ON t.id = s.team_id
      LEFT JOIN platform pl ON pl.id = coalesce(t.platform_id, pm.platform_id)
     WHERE (p_platform IS NULL OR pl.name = p_platform)
       AND (p_team IS NULL OR t.name = p_team)
     GROUP BY pl.name, t.name, pm.reference
     ORDER BY 1, 2, 3
$$;

REVOKE EXECUTE ON FUNCTION closeloop_report_unattached(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION closeloop_report_unattached(text, text, text) TO closeloop_reader;
