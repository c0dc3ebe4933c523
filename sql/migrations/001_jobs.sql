-- 001_jobs: the webhook job queue that the nginx module fills.
--
-- tracktik_deliveries remembers every delivery the module acknowledged, by
-- its dedupe key (the Standard Webhooks id, or a SHA-256 of the raw body),
-- so a redelivery never becomes a second job even after the first job has
-- finished and left the queue.  Rows are small and insert-only; the worker
-- prunes those older than its retention window.
--
-- tracktik_jobs is the work queue itself.  It is kept small on purpose:
-- a job leaves the table once the worker has finished it; only queued,
-- running and dead jobs stay.  fillfactor leaves room for HOT updates of
-- the lease columns, so claiming does not bloat the indexes.

CREATE TABLE tracktik_deliveries (
    dedupe_key   text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tracktik_deliveries_received_at
    ON tracktik_deliveries (received_at);

CREATE TABLE tracktik_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key    text NOT NULL,
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'dead')),
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    run_after     timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    locked_by     text,
    locked_until  timestamptz,
    last_error    text
) WITH (fillfactor = 70);

CREATE UNIQUE INDEX tracktik_jobs_dedupe_key ON tracktik_jobs (dedupe_key);

-- the claim query's index: runnable jobs in arrival order
CREATE INDEX tracktik_jobs_runnable
    ON tracktik_jobs (run_after, id) WHERE state = 'queued';

-- lease rescue scans running jobs by lease end
CREATE INDEX tracktik_jobs_leases
    ON tracktik_jobs (locked_until) WHERE state = 'running';

-- one NOTIFY per inserting statement wakes LISTENing workers (the
-- function: sql/functions/triggers.sql)
CREATE TRIGGER tracktik_jobs_notify
    AFTER INSERT ON tracktik_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION tracktik_jobs_notify();
