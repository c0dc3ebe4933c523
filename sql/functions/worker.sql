-- worker.sql: what the worker's batch transaction calls.
--
-- tracktik_record_batch() records a whole batch of reports in one
-- statement (one executor start per report made PostgreSQL the
-- bottleneck at about 2,000 jobs/s), applying these rules set-wise:
--   * content already in the ledger (same event_id), or a second copy of
--     it earlier in the batch                         -> 'duplicate'
--   * updatedOn older than the newest stored version  -> 'stale'
--   * otherwise a new version; several new versions of one report in a
--     batch are numbered in updatedOn order (then arrival order)
--                                                     -> 'appended'
-- Billing is brought in line with the newest version appended for each
-- report: open charges it no longer bills get a credit line, lines it
-- bills that are not open get a new charge; identical billing adds
-- nothing.  No advisory lock: two workers racing on one report collide on
-- the ledger's unique keys, one batch fails and the worker retries its
-- jobs one by one (calling this with a one-report batch).
--
-- p_reports is a JSON array of objects with the keys of the column list
-- below; the entity is taken from the job's payload ("data_index" -2: the
-- payload itself, -1: its "data" object, n: its "data" array's element
-- n), "lines" is the rule output
-- [{rule_id, rule_set_version, bill_code, quantity, unit_price}].

CREATE OR REPLACE FUNCTION tracktik_record_batch(p_reports jsonb)
RETURNS TABLE (ord bigint, outcome text, version integer,
               lines_charged integer, lines_credited integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids  regclass := pg_get_serial_sequence('incidents_ledger', 'id');
BEGIN
    RETURN QUERY
    WITH parsed AS (
        -- the entity itself is read from the job's payload, not re-sent
        SELECT i.*,
               CASE WHEN i.data_index = -2 THEN j.payload
                    WHEN i.data_index = -1 THEN j.payload->'data'
                    ELSE j.payload->'data'->i.data_index
               END AS raw
          FROM jsonb_to_recordset(p_reports) AS i(
               ord bigint, job_id bigint, report_id bigint,
               occurred_at timestamptz, client_id bigint, site_id bigint,
               severity text, category text, category_id bigint,
               report_template text, report_template_id bigint,
               status text, time_zone text, updated_on timestamptz,
               data_index integer, service_date date, lines jsonb)
          JOIN LATERAL (SELECT t.payload FROM tracktik_jobs t
                         WHERE t.id = i.job_id
                         LIMIT 1) j ON true
    ), input AS (
        SELECT p.*,
               encode(sha256(convert_to(p.raw::text, 'UTF8')), 'hex') AS sha
          FROM parsed p
    ), keyed AS (
        SELECT i.*,
               'report:' || i.report_id || ':' || i.sha AS event_id,
               row_number() OVER (PARTITION BY i.report_id, i.sha
                                  ORDER BY i.ord) AS copy
          FROM input i
    ), judged AS (
        -- LATERAL ... LIMIT 1 (and OFFSET 0 below): index probes per
        -- report, whatever the tables' size and however the cached plan
        -- was costed; a hash join there would read the whole table
        SELECT k.*,
               CASE WHEN k.copy > 1 OR dup.version IS NOT NULL
                    THEN 'duplicate'
                    WHEN k.updated_on < lt.updated_on THEN 'stale'
                    ELSE 'appended'
               END AS verdict,
               dup.version AS duplicate_version,
               lt.version AS latest_version
          FROM keyed k
          LEFT JOIN LATERAL (SELECT e.version FROM incidents_ledger e
                              WHERE e.event_id = k.event_id
                              LIMIT 1) dup ON true
          LEFT JOIN LATERAL (SELECT l.version, l.updated_on
                               FROM incidents_ledger l
                              WHERE l.report_id = k.report_id
                              ORDER BY l.version DESC
                              LIMIT 1) lt ON true
    ), numbered AS (
        SELECT j.*,
               nextval(v_ids) AS ledger_id,
               (coalesce(j.latest_version, 0)
                + row_number() OVER (PARTITION BY j.report_id
                                     ORDER BY j.updated_on NULLS FIRST,
                                              j.ord))::integer
                   AS new_version,
               row_number() OVER (PARTITION BY j.report_id
                                  ORDER BY j.updated_on DESC NULLS LAST,
                                           j.ord DESC) = 1 AS is_last
          FROM judged j
         WHERE j.verdict = 'appended'
    ), inserted AS (
        INSERT INTO incidents_ledger (id, event_id, report_id, version,
            occurred_at, client_id, site_id, severity, category,
            category_id, report_template, report_template_id, status,
            time_zone, updated_on, raw, raw_sha256, job_id)
        OVERRIDING SYSTEM VALUE
        SELECT n.ledger_id, n.event_id, n.report_id, n.new_version, n.occurred_at,
               n.client_id, n.site_id, n.severity, n.category,
               n.category_id, n.report_template, n.report_template_id,
               n.status, n.time_zone, n.updated_on, n.raw, n.sha, n.job_id
          FROM numbered n
         ORDER BY n.report_id, n.new_version
        RETURNING id
    ), billed AS (
        -- ledger ids were drawn in "numbered": no join back to "inserted"
        SELECT n.report_id, n.new_version, n.service_date, n.client_id,
               n.site_id, n.lines, n.ledger_id
          FROM numbered n
         WHERE n.is_last
    ), open AS (
        -- the report's charges that no credit line undoes yet
        SELECT b.*,
               row_number() OVER (PARTITION BY b.report_id, b.bill_code,
                                               b.quantity, b.unit_price
                                  ORDER BY b.id) AS n
          FROM billed bd
          JOIN LATERAL (SELECT b.* FROM billing_lines b
                         WHERE b.report_id = bd.report_id
                           AND b.kind = 'charge'
                        OFFSET 0) b ON true
          LEFT JOIN LATERAL (SELECT c.id FROM billing_lines c
                              WHERE c.credits_line_id = b.id
                              LIMIT 1) cr ON true
         WHERE cr.id IS NULL
    ), wanted AS (
        SELECT bd.report_id, bd.ledger_id, bd.new_version, bd.service_date,
               bd.client_id, bd.site_id, w.rule_id, w.rule_set_version,
               w.bill_code, w.quantity, w.unit_price,
               row_number() OVER (PARTITION BY bd.report_id, w.bill_code,
                                               w.quantity, w.unit_price
                                  ORDER BY w.rule_id) AS n
          FROM billed bd,
               jsonb_to_recordset(bd.lines)
               AS w(rule_id text, rule_set_version integer,
                    bill_code text, quantity numeric, unit_price numeric)
    ), credited AS (
        INSERT INTO billing_lines (idempotency_key, kind, report_id,
            ledger_id, ledger_version, rule_set_version, rule_id, bill_code,
            quantity, unit_price, service_date, client_id, site_id,
            credits_line_id)
        SELECT 'credit:' || o.idempotency_key, 'credit', o.report_id,
               bd.ledger_id, bd.new_version, o.rule_set_version, o.rule_id,
               o.bill_code, -o.quantity, o.unit_price, o.service_date,
               o.client_id, o.site_id, o.id
          FROM open o
          JOIN billed bd ON bd.report_id = o.report_id
         WHERE NOT EXISTS (SELECT 1 FROM wanted w
                            WHERE w.report_id = o.report_id
                              AND w.bill_code = o.bill_code
                              AND w.quantity = o.quantity
                              AND w.unit_price IS NOT DISTINCT FROM
                                  o.unit_price
                              AND w.n = o.n)
         ORDER BY o.report_id, o.id
        RETURNING report_id
    ), charged AS (
        INSERT INTO billing_lines (idempotency_key, kind, report_id,
            ledger_id, ledger_version, rule_set_version, rule_id, bill_code,
            quantity, unit_price, service_date, client_id, site_id)
        SELECT 'report:' || w.report_id || ':v' || w.new_version || ':'
                   || w.rule_id || '@' || w.rule_set_version,
               'charge', w.report_id, w.ledger_id, w.new_version,
               w.rule_set_version, w.rule_id, w.bill_code, w.quantity,
               w.unit_price, w.service_date, w.client_id, w.site_id
          FROM wanted w
         WHERE NOT EXISTS (SELECT 1 FROM open o
                            WHERE o.report_id = w.report_id
                              AND o.bill_code = w.bill_code
                              AND o.quantity = w.quantity
                              AND o.unit_price IS NOT DISTINCT FROM
                                  w.unit_price
                              AND o.n = w.n)
         ORDER BY w.report_id, w.rule_id
        RETURNING report_id
    ), counts AS (
        SELECT r.report_id,
               count(*) FILTER (WHERE r.kind = 'charge') AS charged,
               count(*) FILTER (WHERE r.kind = 'credit') AS credited
          FROM (SELECT c.report_id, 'charge' AS kind FROM charged c
                UNION ALL
                SELECT c.report_id, 'credit' FROM credited c) r
         GROUP BY r.report_id
    )
    SELECT j.ord, j.verdict,
           coalesce(nb.new_version, j.duplicate_version, j.latest_version),
           CASE WHEN nb.is_last THEN coalesce(ct.charged, 0) ELSE 0 END
               ::integer,
           CASE WHEN nb.is_last THEN coalesce(ct.credited, 0) ELSE 0 END
               ::integer
      FROM judged j
      LEFT JOIN numbered nb ON nb.ord = j.ord
      LEFT JOIN counts ct ON ct.report_id = j.report_id
     ORDER BY j.ord;
END
$$;

-- the worker's role (migrations/004_roles_grants.sql) may call it, and
-- draw the ledger ids it uses; also when someone else (a superuser) made
-- the role
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT EXECUTE ON FUNCTION tracktik_record_batch(jsonb)
            TO tracktik_worker_role;
        GRANT USAGE ON SEQUENCE incidents_ledger_id_seq
            TO tracktik_worker_role;
    END IF;
END
$$;


-- tracktik_photos_enqueue() runs inside the worker's batch transaction,
-- right after tracktik_record_batch() (only when `run --attachment-dir`
-- is set); see migrations/008_report_photos.sql.
-- p_reports: the array tracktik_record_batch() was given (job_id,
-- report_id, occurred_at, data_index); the entity is read from the job's
-- payload the same way.  Returns the rows queued.
CREATE OR REPLACE FUNCTION tracktik_photos_enqueue(p_reports jsonb)
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
        -- a photo of a confidential or admin-only field is never fetched
        -- for the portal (tracktik_field_hidden(): functions/triggers.sql)
        SELECT e.report_id, e.occurred_at, f,
               tracktik_field_file_id(f) AS file_id
          FROM entities e,
               jsonb_array_elements(CASE
                   WHEN jsonb_typeof(e.raw->'reportFields') = 'array'
                   THEN e.raw->'reportFields' ELSE '[]' END) f
         WHERE NOT tracktik_field_hidden(f)
    )
    INSERT INTO tracktik_photos (file_id, report_id, url, name, year,
                                 template_field_id, field_type)
    SELECT DISTINCT ON (file_id)
           file_id, report_id, f->>'value',
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
     ORDER BY file_id, report_id
    ON CONFLICT (file_id) DO NOTHING;

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
