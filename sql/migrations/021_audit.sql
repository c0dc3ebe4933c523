-- 021_audit: the result of each scheduled pull's audit (the ledger
-- against TrackTik for the pull's window), kept so that operators see the
-- latest in the portal and download its CSV (doc/audit.md).  A manual
-- `tracktik-worker audit` writes its files and records nothing here.
--
-- One row per audit; rows are only added (the schedule never changes an
-- earlier result).  agrees: no difference of any kind.  pending: the
-- pull's reports still queued as jobs, left out of the comparison.  csv: the audit's
-- audit.csv, whole (kind, report id, field, ledger value, source value).

CREATE TABLE tracktik_audit_runs (
    id                       bigint GENERATED ALWAYS AS IDENTITY
                             PRIMARY KEY,
    pull_id                  bigint,
    source                   text NOT NULL,
    period_from              timestamptz NOT NULL,
    period_to                timestamptz NOT NULL,
    ledger_reports           bigint NOT NULL,
    source_reports           bigint NOT NULL,
    pending                  bigint NOT NULL DEFAULT 0,
    missing_from_ledger      bigint NOT NULL,
    missing_from_source      bigint NOT NULL,
    changed                  bigint NOT NULL,
    billing_without_report   bigint NOT NULL,
    should_have_billed       bigint NOT NULL,
    agrees                   boolean NOT NULL,
    csv                      text NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tracktik_audit_runs_created ON tracktik_audit_runs (created_at);
