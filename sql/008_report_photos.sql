-- 008_report_photos: report photos waiting to be fetched into the
-- portal's attachment store (portal_attachments, sql/020).
--
-- tracktik_photos_enqueue() runs inside the worker's batch transaction,
-- right after tracktik_record_batch() (only when `run --attachment-dir`
-- is set): every report field whose value is an http(s) URL ending in a
-- numeric file id becomes a pending row, keyed by that TrackTik file id,
-- so redeliveries and new versions add nothing.  Fields whose included
-- templateField names a type other than PICTURE are left out; when only
-- the template field's id is known, the worker asks TrackTik for its type
-- before fetching.  The photo pass (src/worker/photos.c) then downloads
-- each due row, writes the file and inserts portal_attachments; a photo
-- that cannot be fetched now gets run_after in the future and its error.

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


-- p_reports: the array tracktik_record_batch() was given (job_id,
-- report_id, occurred_at, data_index); the entity is read from the job's
-- payload the same way.  Returns the rows queued.
CREATE FUNCTION tracktik_photos_enqueue(p_reports jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    WITH entities AS (
        SELECT i.report_id, i.occurred_at,
               CASE WHEN i.data_index = -2 THEN j.payload
                    WHEN i.data_index = -1 THEN j.payload->'data'
                    ELSE j.payload->'data'->i.data_index
               END AS raw
          FROM jsonb_to_recordset(p_reports) AS i(
               job_id bigint, report_id bigint, occurred_at timestamptz,
               data_index integer)
          JOIN LATERAL (SELECT t.payload FROM tracktik_jobs t
                         WHERE t.id = i.job_id
                         LIMIT 1) j ON true
    ), fields AS (
        SELECT e.report_id, e.occurred_at, f,
               substring(f->>'value'
                         FROM '^https?://[^?#]*/([0-9]{1,18})'
                              '(\.[A-Za-z0-9]{1,10})?([?#].*)?$') AS file_id
          FROM entities e,
               jsonb_array_elements(CASE
                   WHEN jsonb_typeof(e.raw->'reportFields') = 'array'
                   THEN e.raw->'reportFields' ELSE '[]' END) f
         WHERE jsonb_typeof(f) = 'object'
           AND jsonb_typeof(f->'value') = 'string'
           AND f->>'value' ~ '^https?://'
    )
    INSERT INTO tracktik_photos (file_id, report_id, url, name, year,
                                 template_field_id, field_type)
    SELECT DISTINCT ON (file_id::bigint)
           file_id::bigint, report_id, f->>'value',
           left(coalesce(nullif(f->>'valueLabel', ''),
                         substring(f->>'value' FROM '([^/?#]*)([?#].*)?$')),
                200),
           extract(year FROM occurred_at AT TIME ZONE 'UTC')::integer,
           CASE WHEN jsonb_typeof(f->'templateField') = 'number'
                THEN (f->>'templateField')::bigint
                WHEN jsonb_typeof(f->'templateField'->'id') = 'number'
                THEN (f->'templateField'->>'id')::bigint
           END,
           f->'templateField'->>'type'
      FROM fields
     WHERE file_id IS NOT NULL
       AND coalesce(f->'templateField'->>'type', 'PICTURE') = 'PICTURE'
     ORDER BY file_id::bigint, report_id
    ON CONFLICT (file_id) DO NOTHING;

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
