-- 010_portal_bounds: what keeps the portal's heavy routes bounded.
--
-- incidents_daily: the stats route's counts, one row per UTC day, client,
-- site, severity and local day (the day in the report's own time zone,
-- which the charts show), counting the reports whose newest version is
-- APPROVED, as the ledger says now.  Kept by a trigger on every insert
-- into the ledger (incidents_daily_count(), sql/functions/triggers.sql),
-- so a new version that moves a report to another day, site or severity,
-- or out of APPROVED, moves its count too.  portal_api_stats() reads it
-- for the whole UTC days of a range and the ledger only for the parts of
-- a day at either end: an operator's month is a few thousand rows.
--
-- portal_event_streams: the live event streams each session has open, on
-- every nginx worker and host (portal_api_events() allows four).
--
-- portal_event_key: the key of the event streams' resume points, so that
-- the id a client sees says nothing about the ledger's row ids (that is,
-- about other clients' volume).

CREATE TABLE incidents_daily (
    utc_day    date NOT NULL,
    client_id  bigint NOT NULL,
    site_id    bigint,
    severity   text,
    local_day  date NOT NULL,
    n          bigint NOT NULL,
    CONSTRAINT incidents_daily_key UNIQUE NULLS NOT DISTINCT
        (utc_day, client_id, site_id, severity, local_day)
);

CREATE INDEX incidents_daily_client ON incidents_daily (client_id, utc_day);

-- no insert meanwhile: the trigger counts what comes after the fill
LOCK TABLE incidents_ledger IN SHARE MODE;

CREATE TRIGGER incidents_ledger_daily
    AFTER INSERT ON incidents_ledger
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_daily_count();

INSERT INTO incidents_daily (utc_day, client_id, site_id, severity,
                             local_day, n)
SELECT (l.occurred_at AT TIME ZONE 'UTC')::date, l.client_id, l.site_id,
       l.severity, (l.occurred_at AT TIME ZONE z.zone)::date, count(*)
  FROM incidents_ledger l
  JOIN (SELECT d.time_zone, tracktik_time_zone(d.time_zone) AS zone
          FROM (SELECT DISTINCT time_zone FROM incidents_ledger) d) z
       ON z.time_zone = l.time_zone
 WHERE l.status = 'APPROVED'
   AND l.client_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                    WHERE n.report_id = l.report_id
                      AND n.version > l.version)
 GROUP BY 1, 2, 3, 4, 5;

CREATE TABLE portal_event_streams (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  text NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX portal_event_streams_session
    ON portal_event_streams (session_id, expires_at);
CREATE INDEX portal_event_streams_expires
    ON portal_event_streams (expires_at);

CREATE TABLE portal_event_key (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    key  bytea NOT NULL
);

INSERT INTO portal_event_key (key) VALUES (gen_random_bytes(32));

REVOKE ALL ON incidents_daily, portal_event_streams, portal_event_key
    FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        -- the trigger runs as the role that inserts into the ledger
        GRANT SELECT, INSERT, UPDATE ON incidents_daily
            TO tracktik_worker_role;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_portal_role') THEN
        GRANT SELECT ON incidents_daily, portal_event_key
            TO tracktik_portal_role;
        GRANT SELECT, INSERT, UPDATE, DELETE ON portal_event_streams
            TO tracktik_portal_role;
    END IF;
END
$$;
