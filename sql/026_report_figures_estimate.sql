-- 026_report_figures_estimate.sql — the dashboards' quarter panels without
-- JIT compilation (docs/schema.md, docs/report.md "Cost").
--
-- v_closure_by_quarter calls closeloop_report_figures_v once per quarter.
-- With PostgreSQL's default estimate for a set-returning function (1000
-- rows a call) a panel's plan looked costly enough for JIT compilation,
-- which took 1.6 s of a 2.3 s "closure rate by quarter" panel at 100,000
-- items; a call returns one row per team, per platform and one for all.
ALTER FUNCTION closeloop_report_figures_v(text) ROWS 50;
