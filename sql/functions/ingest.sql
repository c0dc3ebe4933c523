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
-- the group is queued: the module then splits the group to find it.
--
-- Grants: only the owner may insert into the two tables, so only the
-- owner may call this.

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
