-- import.sql: what `tracktik-worker import` calls (src/worker/import.c).
--
-- One transaction per import:
--   SELECT tracktik_import_begin();         the staging table
--   COPY tracktik_import_staging FROM STDIN; every good row of the file
--   SELECT * FROM tracktik_import_merge(...); the ledger, billing, counts
--   COMMIT
-- A failure anywhere rolls all of it back; the worker has already checked
-- each row (a bad one is rejected before the COPY), so the COPY itself
-- does not fail on data.

-- the staging table, private to the session and gone at commit; the
-- columns are what import_row.c writes, in its order
CREATE OR REPLACE FUNCTION tracktik_import_begin() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMPORARY TABLE tracktik_import_staging (
        line             bigint NOT NULL,
        report_id        bigint NOT NULL,
        occurred_at      timestamptz NOT NULL,
        client_id        bigint,
        site_id          bigint,
        severity         text,
        category         text,
        report_template  text,
        status           text,
        time_zone        text NOT NULL,
        updated_on       timestamptz,
        service_date     date NOT NULL,
        raw              jsonb NOT NULL,
        lines            jsonb NOT NULL
    ) ON COMMIT DROP;
END
$$;

-- The merge, set-wise, with the rules of tracktik_record_batch()
-- (functions/worker.sql) for a webhook's reports:
--   * a row whose content is in the ledger already (the same event_id,
--     'report:<id>:<sha256 of the raw record>'), or a repeat of an
--     earlier row of the file                             -> unchanged
--   * a row whose report's newest version came from TrackTik itself (a
--     webhook or a pull: no "import" key) and says the same of every
--     column an export carries                            -> unchanged
--     (an export is a summary: it must not bury the full entity under a
--     version that only looks different)
--   * updatedOn older than the newest version's           -> unchanged
--     (stale)
--   * otherwise a new version, numbered after the newest; several
--     versions of one report in a file in updatedOn order, then line
--                                                         -> new (its
--     report's first version) or updated
-- Billing follows the newest version appended per report, as for a
-- webhook: open charges it no longer bills are credited, lines it bills
-- that are not open are charged; identical billing adds nothing.  Two
-- writers adding a version of one report at once collide on the ledger's
-- unique (report_id, version) and one of them rolls back.
CREATE OR REPLACE FUNCTION tracktik_import_merge(p_file text,
    p_mapping text, p_rejected integer)
RETURNS TABLE (run_id bigint, rows_new integer, rows_unchanged integer,
               rows_updated integer, lines_charged integer,
               lines_credited integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids       regclass := pg_get_serial_sequence('incidents_ledger', 'id');
    v_new       integer;
    v_updated   integer;
    v_rows      integer;
    v_charged   integer;
    v_credited  integer;
    v_run       bigint;
BEGIN
    -- a bulk load: no JIT compile (a second per statement, for plans
    -- that run once), and the portal's trigram index (incidents_search)
    -- takes the new rows in its pending list, merged in bulk, rather
    -- than one GIN insertion each (several times slower)
    SET LOCAL jit = off;
    SET LOCAL gin_pending_list_limit = '1GB';

    CREATE TEMPORARY TABLE tracktik_import_appended ON COMMIT DROP AS
    WITH keyed AS (
        -- one row per report and content: the first line that has it
        SELECT DISTINCT ON (s.report_id, h.sha)
               s.*, h.sha, 'report:' || s.report_id || ':' || h.sha
                   AS event_id
          FROM tracktik_import_staging s,
               LATERAL (SELECT encode(sha256(convert_to(s.raw::text,
                                                        'UTF8')), 'hex')
                               AS sha) h
         ORDER BY s.report_id, h.sha, s.line
    ), latest AS (
        SELECT DISTINCT ON (l.report_id) l.*
          FROM incidents_ledger l
         WHERE l.report_id IN (SELECT s.report_id
                                 FROM tracktik_import_staging s)
         ORDER BY l.report_id, l.version DESC
    ), judged AS (
        SELECT k.*, lt.version AS latest_version
          FROM keyed k
          LEFT JOIN latest lt ON lt.report_id = k.report_id
         WHERE NOT EXISTS (SELECT 1 FROM incidents_ledger e
                            WHERE e.event_id = k.event_id)
           AND NOT coalesce(k.updated_on < lt.updated_on, false)
           AND NOT (lt.version IS NOT NULL AND NOT lt.raw ? 'import'
                    AND (k.occurred_at, k.client_id, k.site_id, k.severity,
                         k.category, k.status)
                        IS NOT DISTINCT FROM
                        (lt.occurred_at, lt.client_id, lt.site_id,
                         lt.severity, lt.category, lt.status)
                    AND (k.report_template IS NULL
                         OR k.report_template
                            IS NOT DISTINCT FROM lt.report_template))
    )
    SELECT j.*,
           nextval(v_ids) AS ledger_id,
           (coalesce(j.latest_version, 0)
            + row_number() OVER (PARTITION BY j.report_id
                                 ORDER BY j.updated_on NULLS FIRST,
                                          j.line))::integer AS new_version,
           row_number() OVER (PARTITION BY j.report_id
                              ORDER BY j.updated_on DESC NULLS LAST,
                                       j.line DESC) = 1 AS is_last
      FROM judged j;

    INSERT INTO incidents_ledger (id, event_id, report_id, version,
        occurred_at, client_id, site_id, severity, category, category_id,
        report_template, report_template_id, status, time_zone, updated_on,
        raw, raw_sha256, job_id)
    OVERRIDING SYSTEM VALUE
    SELECT a.ledger_id, a.event_id, a.report_id, a.new_version,
           a.occurred_at, a.client_id, a.site_id, a.severity, a.category,
           NULL, a.report_template, NULL, a.status, a.time_zone,
           a.updated_on, a.raw, a.sha, NULL
      FROM tracktik_import_appended a
     ORDER BY a.report_id, a.new_version;

    SELECT count(*) FILTER (WHERE a.new_version = 1),
           count(*) FILTER (WHERE a.new_version > 1)
      INTO v_new, v_updated
      FROM tracktik_import_appended a;

    SELECT count(*) INTO v_rows FROM tracktik_import_staging;

    -- billing of the newest appended version of each report: its open
    -- charges (no credit line undoes them) and the lines it should have,
    -- the n-th of each (code, quantity, price) paired with the n-th
    CREATE TEMPORARY TABLE tracktik_import_open ON COMMIT DROP AS
    SELECT b.*,
           row_number() OVER (PARTITION BY b.report_id, b.bill_code,
                                           b.quantity, b.unit_price
                              ORDER BY b.id) AS n
      FROM billing_lines b
      JOIN tracktik_import_appended a
        ON a.report_id = b.report_id AND a.is_last
     WHERE b.kind = 'charge'
       AND NOT EXISTS (SELECT 1 FROM billing_lines c
                        WHERE c.credits_line_id = b.id);

    CREATE TEMPORARY TABLE tracktik_import_wanted ON COMMIT DROP AS
    SELECT row_number() OVER () AS wanted_no, a.report_id, a.ledger_id,
           a.new_version, a.service_date, a.client_id, a.site_id,
           w.rule_id, w.rule_set_version, w.bill_code, w.quantity,
           w.unit_price,
           row_number() OVER (PARTITION BY a.report_id, w.bill_code,
                                           w.quantity, w.unit_price
                              ORDER BY w.rule_id) AS n
      FROM tracktik_import_appended a,
           jsonb_to_recordset(a.lines)
           AS w(rule_id text, rule_set_version integer, bill_code text,
                quantity numeric, unit_price numeric)
     WHERE a.is_last;

    CREATE TEMPORARY TABLE tracktik_import_kept ON COMMIT DROP AS
    SELECT o.id AS open_id, w.wanted_no
      FROM tracktik_import_open o
      JOIN tracktik_import_wanted w
        ON (w.report_id, w.bill_code, w.quantity, w.n)
           = (o.report_id, o.bill_code, o.quantity, o.n)
       AND w.unit_price IS NOT DISTINCT FROM o.unit_price;

    -- an open charge the new version no longer bills: credited
    INSERT INTO billing_lines (idempotency_key, kind, report_id, ledger_id,
        ledger_version, rule_set_version, rule_id, bill_code, quantity,
        unit_price, service_date, client_id, site_id, credits_line_id)
    SELECT 'credit:' || o.idempotency_key, 'credit', o.report_id,
           a.ledger_id, a.new_version, o.rule_set_version, o.rule_id,
           o.bill_code, -o.quantity, o.unit_price, o.service_date,
           o.client_id, o.site_id, o.id
      FROM tracktik_import_open o
      JOIN tracktik_import_appended a
        ON a.report_id = o.report_id AND a.is_last
     WHERE o.id NOT IN (SELECT k.open_id FROM tracktik_import_kept k)
     ORDER BY o.report_id, o.id;

    GET DIAGNOSTICS v_credited = ROW_COUNT;

    -- a line it bills that is not open: charged
    INSERT INTO billing_lines (idempotency_key, kind, report_id, ledger_id,
        ledger_version, rule_set_version, rule_id, bill_code, quantity,
        unit_price, service_date, client_id, site_id)
    SELECT 'report:' || w.report_id || ':v' || w.new_version || ':'
               || w.rule_id || '@' || w.rule_set_version,
           'charge', w.report_id, w.ledger_id, w.new_version,
           w.rule_set_version, w.rule_id, w.bill_code, w.quantity,
           w.unit_price, w.service_date, w.client_id, w.site_id
      FROM tracktik_import_wanted w
     WHERE w.wanted_no NOT IN (SELECT k.wanted_no
                                 FROM tracktik_import_kept k)
     ORDER BY w.report_id, w.rule_id;

    GET DIAGNOSTICS v_charged = ROW_COUNT;

    INSERT INTO import_runs (file_name, mapping, rows_new, rows_unchanged,
                             rows_updated, rows_rejected, lines_charged,
                             lines_credited)
    VALUES (p_file, p_mapping, v_new, v_rows - v_new - v_updated, v_updated,
            p_rejected, v_charged, v_credited)
    RETURNING id INTO v_run;

    RETURN QUERY SELECT v_run, v_new, v_rows - v_new - v_updated,
                        v_updated, v_charged, v_credited;
END
$$;
