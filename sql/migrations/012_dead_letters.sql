-- 012_dead_letters: correctly signed webhook deliveries that PostgreSQL's
-- jsonb refuses (a \u0000 escape, a lone UTF-16 surrogate escape, bytes
-- that are not UTF-8 inside a string).  TrackTik may not retry a 4xx, so
-- the module stores such a body as it came, as bytes, and answers 202
-- only after that commit; the operator inspects, repairs and replays it
-- (sql/functions/ingest.sql: tracktik_dead_letter_store(),
-- tracktik_dead_letter_replay()).
--
-- The dedupe key is recorded in tracktik_deliveries as well, in the same
-- transaction, so a redelivery is a duplicate like any other.  It is not
-- unique here: once the worker has pruned the delivery (--retention-days)
-- a late redelivery is stored again, as a job would be.
--
-- replayed_job_id names the job the repaired payload became; the job
-- leaves tracktik_jobs once it is done, so it is no foreign key.
--
-- Roles: tracktik_ingest_role (created here when the migrating role may
-- create roles, like the roles of 004) is for the login role nginx's
-- tracktik_postgres connects as: it may call tracktik_ingest() and
-- tracktik_dead_letter_store(), and insert what they insert (the grants
-- sit beside the functions, re-applied by every migrate).  Replaying is
-- the operator's (the owner's) alone.

CREATE TABLE tracktik_dead_letters (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key       text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    body             bytea NOT NULL,
    error            text NOT NULL,
    replayed_job_id  bigint,
    replayed_at      timestamptz,
    CHECK ((replayed_job_id IS NULL) = (replayed_at IS NULL))
);

CREATE INDEX tracktik_dead_letters_dedupe_key
    ON tracktik_dead_letters (dedupe_key);

-- the operator's list: what is still waiting for a repair
CREATE INDEX tracktik_dead_letters_waiting
    ON tracktik_dead_letters (received_at) WHERE replayed_at IS NULL;

REVOKE ALL ON tracktik_dead_letters FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = 'tracktik_ingest_role') THEN
        CREATE ROLE tracktik_ingest_role NOLOGIN;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'tracktik_ingest_role not created: % may not create roles',
            current_user;
END
$$;
