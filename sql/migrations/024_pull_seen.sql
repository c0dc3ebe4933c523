-- 024_pull_seen: the scheduled audit compares the ledger with the pages
-- its pull listed, instead of listing the window from TrackTik a second
-- time (doc/audit.md, "The scheduled audit").
--
-- tracktik_pull_seen: what a pull that is to be audited listed, one row
-- per listed report (the compared columns only, as the audit stages a
-- source: functions/audit.sql), written by tracktik_pull_page() in the
-- statement that queues the page and moves the pull's cursor, so the
-- rows are exactly the pages the cursor has passed, a killed pull's
-- included.  Kept in the database, not in the worker (a window may hold
-- 100,000 reports and more); deleted once the pull's audit is recorded,
-- or when the pull fails or is abandoned (a scheduled pull is never
-- resumed: the next one lists its range again).  line: the listing's
-- order, the last tie-break between two rows of one report (a second
-- listed again).
--
-- tracktik_audit_runs.updated_since: the pull listed only the reports
-- updated since then (updatedOn:gte), so the audit compared those; a
-- ledger report of the window that was not updated since is not looked
-- at by that audit.  NULL: the whole window was listed and compared.
--
-- tracktik_pull_page(), tracktik_audit_compare() and
-- tracktik_audit_record() take one argument more; the old ones are
-- dropped so that only the current ones remain (the functions' files
-- create them again).

CREATE TABLE tracktik_pull_seen (
    pull_id bigint NOT NULL REFERENCES tracktik_pulls ON DELETE CASCADE,
    line bigint GENERATED ALWAYS AS IDENTITY,
    -- the columns of the audit's source (tracktik_audit_source)
    report_id bigint NOT NULL, occurred_at timestamptz NOT NULL,
    client_id bigint, site_id bigint, severity text, category text,
    report_template text, status text, updated_on timestamptz,
    PRIMARY KEY (pull_id, line)
);

ALTER TABLE tracktik_audit_runs ADD COLUMN updated_since timestamptz;

DROP FUNCTION IF EXISTS tracktik_pull_page(bigint, timestamptz, integer,
    integer, text);
DROP FUNCTION IF EXISTS tracktik_audit_compare(boolean, timestamptz,
    timestamptz, boolean, boolean);
DROP FUNCTION IF EXISTS tracktik_audit_record(bigint, text, timestamptz,
    timestamptz, bigint, bigint, bigint);
