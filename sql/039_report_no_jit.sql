-- 039_report_no_jit.sql — the report's three functions without JIT
-- compilation (docs/report.md "Cost").
--
-- Planned at every call since migration 37, their statements over the
-- ~900,000 spans of a quarter's end at 1,000,000 items cost enough for
-- PostgreSQL to JIT-compile them at every call: 80 functions, 0.45 s of
-- a 21 s figures call measured at load 12 (EXPLAIN ANALYZE through
-- auto_explain), spent again at every call.  As migrations 26, 29 and 30
-- did for the dashboards' panels.
ALTER FUNCTION closeloop_report_figures(text, text, text) SET jit = off;
ALTER FUNCTION closeloop_report_overdue(text, text, text, int) SET jit = off;
ALTER FUNCTION closeloop_report_postmortems(text, text, text) SET jit = off;
