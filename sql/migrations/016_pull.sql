-- 016_pull: REST pulls of /rest/v1/reports (`tracktik-worker pull`, and
-- the scheduled pulls of `tracktik-worker schedule`).
--
-- A pull lists the reports of a date range, in windows of at most one
-- month (TrackTik refuses a longer :between), each window paged by report
-- id.  Every page becomes webhook-shaped jobs in the same statement that
-- moves the window's checkpoint (last_id), so a pull killed at any point
-- continues after the last page it queued and never queues a page twice
-- (functions/pull.sql).
--
-- tracktik_pulls: one row per pull, manual or scheduled.  finished_at of
-- the newest 'done' row is the last successful pull (the metrics read it).
-- range_to is inclusive; updated_since narrows a scheduled pull to the
-- reports changed since the previous one (minus a safety margin).
--
-- tracktik_pull_windows: the checkpoints, one per window.
--
-- tracktik_pull_lease: one schedule across every worker process and host:
-- the holder's lease expires unless renewed, and only the holder pulls.

CREATE TABLE tracktik_pulls (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('manual', 'scheduled')),
    range_from     timestamptz NOT NULL,
    range_to       timestamptz NOT NULL,
    updated_since  timestamptz,
    site_id        bigint,
    client_id      bigint,
    status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'done', 'failed')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    worker         text,
    pages          bigint NOT NULL DEFAULT 0,
    reports        bigint NOT NULL DEFAULT 0,
    queued         bigint NOT NULL DEFAULT 0,
    last_error     text,
    CHECK (range_to >= range_from),
    CHECK ((status = 'running') = (finished_at IS NULL))
);

-- the last successful pull of a kind; an unfinished manual pull to resume
CREATE INDEX tracktik_pulls_kind_status
    ON tracktik_pulls (kind, status, finished_at);

CREATE TABLE tracktik_pull_windows (
    pull_id    bigint NOT NULL REFERENCES tracktik_pulls ON DELETE CASCADE,
    window_no  integer NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    last_id    bigint NOT NULL DEFAULT 0,
    pages      integer NOT NULL DEFAULT 0,
    reports    bigint NOT NULL DEFAULT 0,
    queued     bigint NOT NULL DEFAULT 0,
    done_at    timestamptz,
    PRIMARY KEY (pull_id, window_no),
    CHECK (ends_at >= starts_at)
);

CREATE TABLE tracktik_pull_lease (
    name        text PRIMARY KEY,
    holder      text,
    expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);

INSERT INTO tracktik_pull_lease (name) VALUES ('schedule');
