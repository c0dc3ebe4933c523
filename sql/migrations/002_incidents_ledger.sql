-- 002_incidents_ledger: the append-only incident ledger the worker writes.
--
-- One row per version of a TrackTik report.  A redelivery of identical
-- content is the same event_id ('report:<id>:<sha256 of the raw entity>')
-- and is refused by the unique key; an update of the report in TrackTik
-- is a new row with the next version number.  The database itself rejects
-- UPDATE, DELETE and TRUNCATE (triggers below), whoever asks.  The portal
-- reads incidents_current, the newest version of each report.

CREATE TABLE incidents_ledger (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id            text NOT NULL UNIQUE,
    report_id           bigint NOT NULL,
    version             integer NOT NULL CHECK (version >= 1),
    occurred_at         timestamptz NOT NULL,
    client_id           bigint,
    site_id             bigint,
    severity            text,
    category            text,
    category_id         bigint,
    report_template     text,
    report_template_id  bigint,
    status              text,
    time_zone           text NOT NULL,
    updated_on          timestamptz,
    raw                 jsonb NOT NULL,
    raw_sha256          text NOT NULL,
    job_id              bigint,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (report_id, version)
);

CREATE INDEX incidents_ledger_client_occurred
    ON incidents_ledger (client_id, occurred_at);

-- UPDATE, DELETE and TRUNCATE refused (incidents_ledger_append_only():
-- sql/functions/triggers.sql)
CREATE TRIGGER incidents_ledger_no_update_delete
    BEFORE UPDATE OR DELETE ON incidents_ledger
    FOR EACH ROW EXECUTE FUNCTION incidents_ledger_append_only();

CREATE TRIGGER incidents_ledger_no_truncate
    BEFORE TRUNCATE ON incidents_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_ledger_append_only();

-- the newest version of each report (written so that a filter on
-- client_id or occurred_at is pushed down into the scan)
CREATE VIEW incidents_current AS
SELECT l.*
  FROM incidents_ledger l
 WHERE NOT EXISTS (SELECT 1
                     FROM incidents_ledger n
                    WHERE n.report_id = l.report_id
                      AND n.version > l.version);
