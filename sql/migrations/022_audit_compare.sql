-- 022_audit_compare: tracktik_audit_compare() takes a fifth argument,
-- p_unique (the worker saw the source's report ids strictly increasing,
-- so the comparison need not sort the source to find each report's
-- newest row: sql/functions/audit.sql, doc/audit.md).  A new argument
-- makes a new function; the four-argument one is dropped here so that
-- only the current one remains (functions/audit.sql creates it again).

DROP FUNCTION IF EXISTS tracktik_audit_compare(boolean, timestamptz,
    timestamptz, boolean);
