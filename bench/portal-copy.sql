-- Portal benchmark (bench/portal-bench.sh): the generated ledger rows
-- moved into a database whose schema was rebuilt after a migration changed.
-- The bench set the old table aside as portal_bench_keep.incidents_ledger
-- and migrated a fresh public schema; this copies the rows
-- into the new, empty incidents_ledger (ids kept), with its indexes and
-- constraints dropped meanwhile and rebuilt after, as portal-data.sql
-- does.  Fails, and the bench generates the data anew, when the ledger's
-- columns have changed.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SET maintenance_work_mem = '512MB';
SET max_parallel_maintenance_workers = 1;

DO $$
BEGIN
    IF (SELECT array_agg(attname || ':' || format_type(atttypid, atttypmod)
                         ORDER BY attnum)
          FROM pg_attribute
         WHERE attrelid = 'public.incidents_ledger'::regclass
           AND attnum > 0 AND NOT attisdropped)
       IS DISTINCT FROM
       (SELECT array_agg(attname || ':' || format_type(atttypid, atttypmod)
                         ORDER BY attnum)
          FROM pg_attribute
         WHERE attrelid = 'portal_bench_keep.incidents_ledger'::regclass
           AND attnum > 0 AND NOT attisdropped)
    THEN
        RAISE EXCEPTION 'portal-copy: the ledger''s columns have changed';
    END IF;
END
$$;

\ir portal-ledger-unindex.sql

\echo portal-copy: copying the rows
\timing on

INSERT INTO incidents_ledger OVERRIDING SYSTEM VALUE
SELECT * FROM portal_bench_keep.incidents_ledger;

SELECT setval(pg_get_serial_sequence('incidents_ledger', 'id'),
              (SELECT max(id) FROM incidents_ledger));

\echo portal-copy: rebuilding indexes and constraints
SELECT make FROM bench_ddl ORDER BY ord \gexec

\timing off
DROP SCHEMA portal_bench_keep CASCADE;
