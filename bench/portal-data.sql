-- Portal benchmark data (bench/portal-bench.sh): :rows incidents_ledger
-- rows across :clients clients, in one set-based INSERT ... SELECT
-- generate_series.  Run with psql -v rows=N -v clients=C in a database
-- that `tracktik-worker migrate` made and an empty ledger.
--
-- Row i of the series is a version 1 report, except every 32nd row,
-- which is version 2 of the report just before it (about 3% of reports
-- are edited after submission: the edit is PENDING -> APPROVED).  Every
-- attribute of a report is a function of its number k, so versions 1 and
-- 2 agree on client, site, time and content:
--
--   client   1 + k % clients (evenly spread; a client's rows are scattered
--            through the heap, as they are when the ledger is written in
--            arrival order);
--   site     3 to 12 sites per client, ids client * 100 + n;
--   time     k-th slice of the three years before 2026-11-01, with up to
--            ten minutes of jitter, so rows are nearly in time order;
--   status   about 80% APPROVED in all, the rest PENDING / NEW / REJECTED;
--   raw      a TrackTik report entity of about 700 bytes of text
--            (account, position, template, flag, three report fields, one
--            confidential, and a narrative of a few dozen words).
--
-- The secondary indexes and constraints of the ledger are dropped before
-- the load and rebuilt after it (their definitions are read from the
-- catalog, so whatever sql/ defines is what gets rebuilt).

\set ON_ERROR_STOP 1

SET maintenance_work_mem = '512MB';
SET max_parallel_maintenance_workers = 1;

\ir portal-ledger-unindex.sql

\echo portal-data: loading :rows rows
\timing on

INSERT INTO incidents_ledger
      (event_id, report_id, version, occurred_at, client_id, site_id,
       severity, category, category_id, report_template, report_template_id,
       status, time_zone, updated_on, raw, raw_sha256, job_id, recorded_at)
SELECT 'report:' || r.report_id || ':' || r.sha, r.report_id, r.version,
       r.occurred_at, r.client_id, r.site_id, f.severity, f.name, f.id,
       t.name, t.id, r.status, z.tz, r.updated_on,
       -- built as text and parsed once: several times cheaper than nested
       -- jsonb_build_object calls
       format('{"id":%s,"status":"%s","reportDateTime":"%s",'
              '"account":{"id":%s,"name":"%s %s"},'
              '"position":{"id":%s,"name":"%s"},'
              '"reportTemplate":{"id":%s,"name":"%s"},'
              '"reportFlag":{"id":%s,"name":"%s","severityLevel":"%s"},'
              '"reportFields":['
              '{"templateField":{"label":"Incident summary","type":"TEXTAREA"},'
              '"value":"Officer observed an individual near the %s at '
              'approximately %s:%s and requested identification. %s"},'
              '{"templateField":{"label":"Police notified","type":"CHECKBOX"},'
              '"value":"%s"},'
              '{"templateField":{"label":"Supervisor notes","type":"TEXT",'
              '"confidential":true},"value":"internal %s"}]}',
              r.report_id, r.status, r.occurred_at,
              r.site_id,
              (ARRAY['Harbourfront Tower', 'Northgate Distribution',
                     'Riverside Medical Campus', 'Lakeshore Retail',
                     'Union Station P2', 'Maple Office Park', 'Eastview Mall',
                     'Airport Cargo Gate'])[1 + r.site_id % 8],
              r.site_id,
              r.site_id * 10 + r.h % 4,
              (ARRAY['Lobby Officer', 'Mobile Patrol', 'Loading Dock',
                     'Concierge'])[1 + r.h % 4],
              t.id, t.name, f.id, f.name, f.severity,
              (ARRAY['north entrance', 'loading dock', 'parking level 2',
                     'main lobby', 'east stairwell'])[1 + (r.h / 19) % 5],
              (r.h / 23) % 24, lpad(((r.h / 29) % 60)::text, 2, '0'),
              (ARRAY['Subject left the premises without incident.',
                     'CCTV reviewed, door secured, supervisor notified.',
                     'Client contact informed; area checked again later, '
                     'no further activity.',
                     'Police not required. Vehicle plate recorded, photos '
                     'attached.',
                     'Alarm panel reset by the technician on call.'])
                  [1 + (r.h / 31) % 5],
              CASE WHEN r.h % 7 = 0 THEN 'Yes' ELSE 'No' END, r.h % 1000)::jsonb,
       r.sha, NULL,
       r.occurred_at + CASE WHEN r.version = 1 THEN interval '4 minutes'
                            ELSE interval '3 hours' END
  FROM generate_series(1, :rows::bigint) AS g(i)
 CROSS JOIN LATERAL (
       SELECT CASE WHEN g.i % 32 = 0 THEN g.i - 1 ELSE g.i END AS k,
              CASE WHEN g.i % 32 = 0 THEN 2 ELSE 1 END AS version) v
 CROSS JOIN LATERAL (
       -- a cheap, well-mixed hash of the report number
       SELECT (v.k * 2654435761) % 4294967291 AS h,
              1 + v.k % :clients AS client_id,
              timestamptz '2023-11-01 00:00:00+00'
                  + (v.k * (94608000.0 / :rows)) * interval '1 second'
                  AS slot) hh
 CROSS JOIN LATERAL (
       SELECT 1000000 + v.k AS report_id,
              v.version,
              hh.h,
              hh.client_id,
              hh.client_id * 100 + (hh.h / 7) % (3 + hh.client_id % 10)
                  AS site_id,
              hh.slot + (hh.h % 600) * interval '1 second' AS occurred_at,
              hh.slot + (hh.h % 600 + 300 + 10800 * (v.version - 1))
                        * interval '1 second' AS updated_on,
              CASE WHEN v.k % 32 = 31 AND v.version = 1 THEN 'PENDING'
                   WHEN v.k % 32 = 31 THEN 'APPROVED'
                   WHEN (hh.h / 11) % 100 < 82 THEN 'APPROVED'
                   WHEN (hh.h / 11) % 100 < 92 THEN 'PENDING'
                   WHEN (hh.h / 11) % 100 < 97 THEN 'NEW'
                   ELSE 'REJECTED' END AS status,
              -- stands in for the SHA-256 of the entity: 64 hex digits
              repeat(md5(v.k::text || ':' || v.version), 2) AS sha) r
 CROSS JOIN LATERAL (
       SELECT 101 + (r.h / 13) % 10 AS id,
              (ARRAY['After hours dispatch', 'Alarm response', 'Trespassing',
                     'Vandalism', 'Theft', 'Medical emergency', 'Fire alarm',
                     'Suspicious activity', 'Maintenance issue',
                     'Routine observation'])[1 + (r.h / 13) % 10] AS name,
              (ARRAY['MODERATE', 'HIGH', 'MODERATE', 'HIGH', 'HIGH', 'SEVERE',
                     'SEVERE', 'LOW', 'LOW', 'INFO'])[1 + (r.h / 13) % 10]
                  AS severity) f
 CROSS JOIN LATERAL (
       SELECT 20 + (r.h / 17) % 3 AS id,
              (ARRAY['Incident Report', 'Daily Activity Report',
                     'Alarm Response Report'])[1 + (r.h / 17) % 3] AS name) t
 CROSS JOIN LATERAL (
       SELECT (ARRAY['America/Toronto', 'America/Montreal', 'America/Chicago',
                     'America/New_York', 'America/Vancouver'])
                  [1 + r.client_id % 5] AS tz) z;

\echo portal-data: rebuilding indexes and constraints
SELECT make FROM bench_ddl ORDER BY ord \gexec

\timing off
