-- Included (\ir) by bench/portal-data.sql and bench/portal-copy.sql
-- before they fill incidents_ledger: records in the temp table bench_ddl
-- how to rebuild the ledger's secondary indexes and constraints (read
-- from the catalog, so whatever sql/ defines is what gets rebuilt), then
-- drops them.  The includer rebuilds them after the load with
--   SELECT make FROM bench_ddl ORDER BY ord \gexec

CREATE TEMP TABLE bench_ddl (ord int, make text, undo text);

-- foreign keys pointing at the ledger (restored last, dropped first)
INSERT INTO bench_ddl
SELECT 3,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass,
              conname, pg_get_constraintdef(oid)),
       format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass,
              conname)
  FROM pg_constraint
 WHERE confrelid = 'incidents_ledger'::regclass AND contype = 'f';

-- plain indexes (of the ledger, and of the search text its trigger
-- writes: a trigram index maintained row by row would dominate the load)
INSERT INTO bench_ddl
SELECT 2, pg_get_indexdef(i.indexrelid),
       format('DROP INDEX %s', i.indexrelid::regclass)
  FROM pg_index i
 WHERE i.indrelid IN ('incidents_ledger'::regclass,
                      'incidents_search'::regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                    WHERE c.conindid = i.indexrelid);

-- primary key and unique constraints
INSERT INTO bench_ddl
SELECT 1,
       format('ALTER TABLE incidents_ledger ADD CONSTRAINT %I %s', conname,
              pg_get_constraintdef(oid)),
       format('ALTER TABLE incidents_ledger DROP CONSTRAINT %I', conname)
  FROM pg_constraint
 WHERE conrelid = 'incidents_ledger'::regclass AND contype IN ('p', 'u');

SELECT undo FROM bench_ddl ORDER BY ord DESC \gexec
