-- 013_metrics: schema version 13, what nginx's tracktik_metrics and
-- tracktik_health locations read (sql/functions/metrics.sql).
--
-- The schema's version is the number of its newest applied migration
-- (tracktik_schema_version() reads tracktik_schema_migrations); the
-- module's health check refuses a schema older than TT_SCHEMA_VERSION
-- (src/common/tt_version.h), which is 13 from this migration on.
--
-- Every scrape counts billing lines by state.  Pending lines have their
-- partial index since 003; failed ones get one here, so that the count an
-- alert watches stays an index scan however many lines have been posted.

CREATE INDEX billing_lines_failed ON billing_lines (id)
    WHERE state = 'failed';
