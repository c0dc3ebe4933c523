-- 019_archives: the auditor's archive queue (doc/archive.md).
--
-- A portal user (or an operator for any client) asks for the archive of
-- one client and period; the row waits here, queued, until a worker
-- claims it (`tracktik-worker archive build`, FOR UPDATE SKIP LOCKED),
-- writes the zip into the attachment store's archives/ directory and
-- records its key, SHA-256 and size; nginx then serves the file through
-- the store's internal location, as it serves photos.
--
-- site_ids is the requester's scope (a client user limited to some
-- sites gets only those; NULL: every site of the client), fixed when the
-- request is made, so the archive never holds more than its requester
-- could see then.  The archive itself only ever holds what a client may
-- see (invariant 9), whoever asked.
--
-- One pending request per client, scope and period: asking again while
-- one is queued or running answers with that one (the partial unique
-- index below).

CREATE TABLE tracktik_archives (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id     bigint NOT NULL,
    site_ids      bigint[],
    period_from   date NOT NULL,
    period_to     date NOT NULL,             -- inclusive, as billing's
    requested_by  bigint REFERENCES portal_users,   -- NULL: command line
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'ready', 'failed')),
    file_key      text CHECK (file_key ~ '^archives/[0-9]+-[0-9a-f]{16}\.zip$'),
    sha256        text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size          bigint,
    incidents     bigint,
    photos        bigint,
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    -- a bounded period: at most 366 days, the end not before the start
    CHECK (period_to >= period_from AND period_to - period_from < 366),
    CHECK ((state = 'ready') = (file_key IS NOT NULL AND sha256 IS NOT NULL
                                AND size IS NOT NULL))
);

-- the dedupe of identical pending requests (coalesce: NULLs would all
-- differ)
CREATE UNIQUE INDEX tracktik_archives_pending
    ON tracktik_archives (client_id, coalesce(site_ids, '{}'), period_from,
                          period_to)
    WHERE state IN ('queued', 'running');

-- the worker's claim walks the queued ones in order
CREATE INDEX tracktik_archives_queued
    ON tracktik_archives (id) WHERE state IN ('queued', 'running');

CREATE INDEX tracktik_archives_client
    ON tracktik_archives (client_id, requested_at DESC);

REVOKE ALL ON tracktik_archives FROM PUBLIC;
