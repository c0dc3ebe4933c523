-- ingest.sql: the nginx module's group commit of webhook deliveries.
--
-- tracktik_ingest(keys, payloads) queues one group of deliveries, the
-- i-th key with the i-th payload (the raw body, cast to jsonb here):
--   * every key is remembered in tracktik_deliveries, inserted in key
--     order (so two groups sharing keys never deadlock), ON CONFLICT DO
--     NOTHING: a key seen before, even long ago, is a redelivery;
--   * a job is inserted for each fresh key, in input order;
--   * one row per input position n (1-based), ordered by n: the new job's
--     id, or NULL for a redelivery.  A key given twice in one group gets
--     the one job's id at both positions.
-- A payload that is not JSON raises (SQLSTATE class 22) and nothing of
-- the group is queued: the module then splits the group to find it, and
-- gives the one PostgreSQL refuses to tracktik_dead_letter_store().
--
-- Grants: the owner, and tracktik_ingest_role when it exists (migration
-- 012; the grants are at the end of this file).

CREATE OR REPLACE FUNCTION tracktik_ingest(p_dedupe_keys text[],
                                           p_payloads text[])
RETURNS TABLE (n integer, job_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF cardinality(p_dedupe_keys) IS DISTINCT FROM cardinality(p_payloads)
    THEN
        RAISE EXCEPTION 'tracktik_ingest: % dedupe keys for % payloads',
            cardinality(p_dedupe_keys), cardinality(p_payloads);
    END IF;

    RETURN QUERY
    WITH input (n, dedupe_key, payload) AS (
        SELECT d.n::integer, d.dedupe_key, d.payload
          FROM unnest(p_dedupe_keys, p_payloads)
               WITH ORDINALITY AS d(dedupe_key, payload, n)
    ), fresh AS (
        INSERT INTO tracktik_deliveries (dedupe_key)
        SELECT i.dedupe_key FROM input i ORDER BY i.dedupe_key
        ON CONFLICT DO NOTHING
        RETURNING dedupe_key
    ), job AS (
        INSERT INTO tracktik_jobs (dedupe_key, payload)
        SELECT i.dedupe_key, i.payload::jsonb
          FROM input i JOIN fresh f USING (dedupe_key)
         ORDER BY i.n
        ON CONFLICT DO NOTHING
        RETURNING id, dedupe_key
    )
    SELECT i.n, j.id
      FROM input i LEFT JOIN job j USING (dedupe_key)
     ORDER BY i.n;
END
$$;

REVOKE ALL ON FUNCTION tracktik_ingest(text[], text[]) FROM PUBLIC;


-- tracktik_dead_letter_store(key, body) takes one delivery whose body
-- jsonb may refuse (a \u0000 escape, a lone UTF-16 surrogate escape,
-- bytes that are not UTF-8), as bytes, the module's binary parameter:
--   * the key is remembered in tracktik_deliveries as tracktik_ingest()
--     does; a key seen before is a redelivery: both results NULL;
--   * a body jsonb takes after all is queued as a job (job_id);
--   * otherwise the bytes are stored in tracktik_dead_letters with
--     PostgreSQL's error message (dead_letter_id), for the operator.
-- The module answers 202 only after this commits.
CREATE OR REPLACE FUNCTION tracktik_dead_letter_store(p_dedupe_key text,
                                                      p_body bytea,
                                                      OUT job_id bigint,
                                                      OUT dead_letter_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_payload  jsonb;
    v_error    text;
    v_detail   text;
BEGIN
    INSERT INTO tracktik_deliveries (dedupe_key) VALUES (p_dedupe_key)
    ON CONFLICT DO NOTHING;

    IF NOT FOUND THEN
        RETURN;
    END IF;

    BEGIN
        v_payload := convert_from(p_body, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL;
    END;

    IF v_error IS NULL THEN
        INSERT INTO tracktik_jobs (dedupe_key, payload)
        VALUES (p_dedupe_key, v_payload)
        ON CONFLICT DO NOTHING
        RETURNING id INTO job_id;
        RETURN;
    END IF;

    INSERT INTO tracktik_dead_letters (dedupe_key, body, error)
    VALUES (p_dedupe_key, p_body,
            v_error || coalesce(': ' || nullif(v_detail, ''), ''))
    RETURNING id INTO dead_letter_id;
END
$$;

REVOKE ALL ON FUNCTION tracktik_dead_letter_store(text, bytea) FROM PUBLIC;


-- tracktik_dead_letter_replay(id, payload): the operator's way back for a
-- dead letter, once repaired by hand.  Queues the payload (a JSON object)
-- as a job under the dead letter's dedupe key, marks the dead letter
-- replayed and returns the job's id; a dead letter is replayed once.
-- For example, a body with a \u0000 escape in a narrative:
--
--   SELECT id, dedupe_key, received_at, error,
--          convert_from(body, 'LATIN1') AS text
--     FROM tracktik_dead_letters WHERE replayed_at IS NULL;
--   SELECT tracktik_dead_letter_replay(id,
--              replace(convert_from(body, 'UTF8'), '\u0000', '')::jsonb)
--     FROM tracktik_dead_letters WHERE id = 7;
--
-- (convert_from(body, 'LATIN1') shows any bytes; for invalid UTF-8 use
-- e.g. convert_from(body, 'LATIN1') when the sender meant Latin-1.)
-- The worker then processes the job like any other.  Owner only.
CREATE OR REPLACE FUNCTION tracktik_dead_letter_replay(p_id bigint,
                                                       p_payload jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_letter  tracktik_dead_letters%ROWTYPE;
    v_job     bigint;
BEGIN
    IF jsonb_typeof(p_payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'tracktik_dead_letter_replay: the payload must be '
                        'a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO v_letter
      FROM tracktik_dead_letters WHERE id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'tracktik_dead_letter_replay: no dead letter %', p_id
            USING ERRCODE = 'no_data_found';
    END IF;

    IF v_letter.replayed_job_id IS NOT NULL THEN
        RAISE EXCEPTION 'tracktik_dead_letter_replay: dead letter % was '
                        'replayed as job % at %', p_id,
                        v_letter.replayed_job_id, v_letter.replayed_at
            USING ERRCODE = 'unique_violation';
    END IF;

    INSERT INTO tracktik_jobs (dedupe_key, payload)
    VALUES (v_letter.dedupe_key, p_payload)
    RETURNING id INTO v_job;

    UPDATE tracktik_dead_letters
       SET replayed_job_id = v_job, replayed_at = now()
     WHERE id = p_id;

    RETURN v_job;
END
$$;

REVOKE ALL ON FUNCTION tracktik_dead_letter_replay(bigint, jsonb)
    FROM PUBLIC;


-- nginx's login role, a member of tracktik_ingest_role, calls the two
-- functions above and may insert (and read back the ids of) what they
-- insert; nothing else
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_ingest_role') THEN
        GRANT EXECUTE ON FUNCTION tracktik_ingest(text[], text[]),
            tracktik_dead_letter_store(text, bytea)
            TO tracktik_ingest_role;
        GRANT INSERT ON tracktik_deliveries, tracktik_jobs,
            tracktik_dead_letters TO tracktik_ingest_role;
        GRANT SELECT (dedupe_key) ON tracktik_deliveries
            TO tracktik_ingest_role;
        GRANT SELECT (id, dedupe_key) ON tracktik_jobs
            TO tracktik_ingest_role;
        GRANT SELECT (id) ON tracktik_dead_letters TO tracktik_ingest_role;
    END IF;
END
$$;
