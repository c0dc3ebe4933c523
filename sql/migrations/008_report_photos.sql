-- 008_report_photos: report photos waiting to be fetched into the
-- portal's attachment store (portal_attachments, 007).
--
-- tracktik_photos_enqueue() (sql/functions/worker.sql) runs inside the
-- worker's batch transaction, right after tracktik_record_batch() (only when
-- `run --attachment-dir` is set): every report field whose value is an
-- http(s) URL ending in a numeric file id becomes a pending row, keyed by
-- that TrackTik file id, so redeliveries and new versions add nothing.
-- Fields whose included templateField names a type other than PICTURE are
-- left out; when only the template field's id is known, the worker asks
-- TrackTik for its type before fetching.  The photo pass
-- (src/worker/photos.c) then downloads each due row, writes the file and
-- inserts portal_attachments; a photo that cannot be fetched now gets
-- run_after in the future and its error.

CREATE TABLE tracktik_photos (
    file_id            bigint PRIMARY KEY,      -- TrackTik file id
    report_id          bigint NOT NULL,
    url                text NOT NULL,
    name               text NOT NULL,
    year               integer NOT NULL,        -- the store's sub-directory
    template_field_id  bigint,
    field_type         text,                    -- when the body included it
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'stored', 'skipped',
                                        'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    run_after          timestamptz NOT NULL DEFAULT now(),
    last_error         text,
    queued_at          timestamptz NOT NULL DEFAULT now(),
    done_at            timestamptz
);

CREATE INDEX tracktik_photos_due ON tracktik_photos (run_after)
    WHERE state = 'pending';

