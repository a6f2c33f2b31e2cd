-- 028_postmortem_problem.sql — the incident's problem record, per
-- postmortem: a ServiceNow connector with table = "problem_task" creates the
-- postmortem's action items as problem tasks under that problem (issue 12:
-- "a problem_task under the incident's problem").  The value is the
-- problem's number as the instance shows it (PRB0040001) or its sys_id (32
-- lower-case hex digits); the importer reads it from the document
-- ("problem:" in the front matter, or a "Problem: PRB0040001" line), and an
-- operator may set it with SQL.  NULL: the postmortem names no problem.
ALTER TABLE postmortem ADD COLUMN problem_ref text
    CONSTRAINT postmortem_problem_ref_form
    CHECK (problem_ref ~ '^([A-Z]{1,10}[0-9]{4,12}|[0-9a-f]{32})$');
