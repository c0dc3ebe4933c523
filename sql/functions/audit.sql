-- audit.sql: what `tracktik-worker audit --source api|FILE` calls
-- (src/worker/audit.c; doc/audit.md), and what the schedule keeps of its
-- audits (tracktik_audit_runs, migrations/021_audit.sql).
--
-- One transaction per audit, all of it in temporary tables gone at its
-- end (the ledger is only read):
--   SELECT tracktik_audit_begin(p_file);   the staging and result tables
--   COPY tracktik_import_staging ...       FILE: the import's rows
--   SELECT tracktik_audit_stage_page(...)  api: each listed page
--   SELECT * FROM tracktik_audit_compare(p_file, p_from, p_to);
--   FETCH ... tracktik_audit_unbilled      the worker asks the contract
--   COPY tracktik_audit_diff ...           rules (rules.c), adds what
--                                          should have billed
--   SELECT * FROM tracktik_audit_summary(); the counts per kind
--
-- The differences, one row each (tracktik_audit_diff):
--   missing_from_ledger     the source has the report, the ledger not
--   missing_from_source     the ledger has it, the source not
--   changed                 both have it; one row per field that differs
--                           (only fields the source carries: a source
--                           value NULL is not a difference)
--   billing_without_report  a billing line of the period whose report the
--                           ledger does not hold at all
--   should_have_billed      the ledger's report matches a contract rule
--                           and has no open charge (field: the bill code;
--                           source value: the rule)

-- p_file: the FILE staging table is the import's (import.sql's
-- tracktik_import_begin()) with raw and lines as text: the audit never
-- reads them, and parsing a million jsonb values would be most of its
-- time (the table is empty: the change costs nothing)
CREATE OR REPLACE FUNCTION tracktik_audit_begin(p_file boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_file THEN
        PERFORM tracktik_import_begin();
        ALTER TABLE tracktik_import_staging ALTER COLUMN raw TYPE text,
            ALTER COLUMN lines TYPE text;
    ELSE
        CREATE TEMPORARY TABLE tracktik_audit_api (
            line             bigserial,
            report_id        bigint NOT NULL,
            occurred_at      timestamptz NOT NULL,
            client_id        bigint,
            site_id          bigint,
            severity         text,
            category         text,
            report_template  text,
            status           text,
            updated_on       timestamptz
        ) ON COMMIT DROP;
    END IF;

    CREATE TEMPORARY TABLE tracktik_audit_diff (
        kind          text NOT NULL,
        report_id     bigint,
        field         text NOT NULL DEFAULT '',
        ledger_value  text,
        source_value  text
    ) ON COMMIT DROP;
END
$$;

-- one page of /rest/v1/reports, as the worker parsed it: the array
-- ledger.c writes for tracktik_record_batch() (the same reading of a
-- report as a webhook's).  The client is not taken: a listed report
-- names its site, and its client is the site's parent, which the worker
-- looks up when it records the report (enrich.c), so the API does not
-- carry it and it is not compared.
CREATE OR REPLACE FUNCTION tracktik_audit_stage_page(p_items jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    INSERT INTO tracktik_audit_api (report_id, occurred_at, site_id,
                                    severity, category, report_template,
                                    status, updated_on)
    SELECT x.report_id, x.occurred_at, x.site_id, x.severity,
           x.category, x.report_template, x.status, x.updated_on
      FROM jsonb_to_recordset(p_items) AS x(report_id bigint,
               occurred_at timestamptz, site_id bigint,
               severity text, category text, report_template text,
               status text, updated_on timestamptz);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- a time as the CSV and the HTML show it
-- (STABLE as to_char() is, so that it is inlined where it is called)
CREATE OR REPLACE FUNCTION tracktik_audit_time(p timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The comparison, set-wise.  The reports looked at: every report with a
-- ledger version or a source row that occurred in [p_from, p_to) (so a
-- report whose time moved out of the period on one side is "changed",
-- not missing on both); for each, the ledger's newest version and the
-- source's newest row (an export may repeat a report: the latest
-- updatedOn, then the last line).  Also leaves tracktik_audit_unbilled:
-- the ledger's reports of the period without an open charge, for the
-- worker to try against the contract rules.  p_pending (the schedule's
-- audit, right after its pull): a report whose pulled job is still
-- queued or running is left out on both sides and counted as pending,
-- since `run` has not recorded it yet.  Returns how many reports each
-- side holds for the period, and the pending ones.
CREATE OR REPLACE FUNCTION tracktik_audit_compare(p_file boolean,
    p_from timestamptz, p_to timestamptz, p_pending boolean)
RETURNS TABLE (ledger_reports bigint, source_reports bigint,
               pending bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_pending  bigint := 0;
BEGIN
    -- plans that run once: compiling them would cost more than it saves
    SET LOCAL jit = off;
    SET LOCAL work_mem = '256MB';

    EXECUTE format(
        'CREATE TEMPORARY TABLE tracktik_audit_src ON COMMIT DROP AS'
        ' SELECT DISTINCT ON (report_id) report_id, occurred_at,'
        '        client_id, site_id, severity, category, report_template,'
        '        status, updated_on'
        '   FROM %I'
        '  ORDER BY report_id, updated_on DESC NULLS LAST, line DESC',
        CASE WHEN p_file THEN 'tracktik_import_staging'
             ELSE 'tracktik_audit_api' END);

    -- the newest version: no later one (an anti-join, cheaper here than
    -- sorting the ledger's rows for DISTINCT ON)
    CREATE TEMPORARY TABLE tracktik_audit_led ON COMMIT DROP AS
    SELECT l.report_id, l.occurred_at, l.client_id, l.site_id, l.severity,
           l.category, l.category_id, l.report_template,
           l.report_template_id, l.status, l.time_zone, l.updated_on
      FROM incidents_ledger l
     WHERE NOT EXISTS (SELECT 1 FROM incidents_ledger n
                        WHERE n.report_id = l.report_id
                          AND n.version > l.version)
       AND (l.report_id IN (SELECT report_id FROM incidents_ledger
                             WHERE occurred_at >= p_from
                               AND occurred_at < p_to)
            OR l.report_id IN (SELECT report_id FROM tracktik_audit_src
                                WHERE occurred_at >= p_from
                                  AND occurred_at < p_to));

    IF p_pending THEN
        -- a pulled job's payload is the listed report (pull.sql)
        CREATE TEMPORARY TABLE tracktik_audit_pending ON COMMIT DROP AS
        SELECT DISTINCT (j.payload->>'id')::bigint AS report_id
          FROM tracktik_jobs j
         WHERE j.dedupe_key LIKE 'pull:%'
           AND j.state IN ('queued', 'running');

        DELETE FROM tracktik_audit_src s
         USING tracktik_audit_pending p WHERE p.report_id = s.report_id
           AND s.occurred_at >= p_from AND s.occurred_at < p_to;
        GET DIAGNOSTICS v_pending = ROW_COUNT;
        DELETE FROM tracktik_audit_led l
         USING tracktik_audit_pending p WHERE p.report_id = l.report_id;
    END IF;

    ANALYZE tracktik_audit_src;
    ANALYZE tracktik_audit_led;

    INSERT INTO tracktik_audit_diff (kind, report_id, ledger_value,
                                     source_value)
    SELECT 'missing_from_ledger', s.report_id, NULL,
           tracktik_audit_time(s.occurred_at)
      FROM tracktik_audit_src s
     WHERE s.occurred_at >= p_from AND s.occurred_at < p_to
       AND NOT EXISTS (SELECT 1 FROM tracktik_audit_led l
                        WHERE l.report_id = s.report_id)
    UNION ALL
    SELECT 'missing_from_source', l.report_id,
           tracktik_audit_time(l.occurred_at), NULL
      FROM tracktik_audit_led l
     WHERE NOT EXISTS (SELECT 1 FROM tracktik_audit_src s
                        WHERE s.report_id = l.report_id);

    -- the pairs that differ somewhere are found on the typed values
    -- first; only those are taken apart field by field, as text
    INSERT INTO tracktik_audit_diff (kind, report_id, field, ledger_value,
                                     source_value)
    SELECT 'changed', p.report_id, f.field, f.lv, f.sv
      FROM (SELECT l.report_id,
                   l.occurred_at AS l_occurred, s.occurred_at AS s_occurred,
                   l.client_id AS l_client, s.client_id AS s_client,
                   l.site_id AS l_site, s.site_id AS s_site,
                   l.severity AS l_severity, s.severity AS s_severity,
                   l.category AS l_category, s.category AS s_category,
                   l.report_template AS l_template,
                   s.report_template AS s_template,
                   l.status AS l_status, s.status AS s_status,
                   l.updated_on AS l_updated, s.updated_on AS s_updated
              FROM tracktik_audit_led l
              JOIN tracktik_audit_src s ON s.report_id = l.report_id
             WHERE l.occurred_at IS DISTINCT FROM s.occurred_at
                OR (s.client_id IS NOT NULL
                    AND l.client_id IS DISTINCT FROM s.client_id)
                OR (s.site_id IS NOT NULL
                    AND l.site_id IS DISTINCT FROM s.site_id)
                OR (s.severity IS NOT NULL
                    AND l.severity IS DISTINCT FROM s.severity)
                OR (s.category IS NOT NULL
                    AND l.category IS DISTINCT FROM s.category)
                OR (s.report_template IS NOT NULL
                    AND l.report_template IS DISTINCT FROM s.report_template)
                OR (s.status IS NOT NULL
                    AND l.status IS DISTINCT FROM s.status)
                OR (s.updated_on IS NOT NULL
                    AND l.updated_on IS DISTINCT FROM s.updated_on)) p
     CROSS JOIN LATERAL (VALUES
            ('occurred_at', tracktik_audit_time(p.l_occurred),
             tracktik_audit_time(p.s_occurred)),
            ('client_id', p.l_client::text, p.s_client::text),
            ('site_id', p.l_site::text, p.s_site::text),
            ('severity', p.l_severity, p.s_severity),
            ('category', p.l_category, p.s_category),
            ('report_template', p.l_template, p.s_template),
            ('status', p.l_status, p.s_status),
            ('updated_on', tracktik_audit_time(p.l_updated),
             tracktik_audit_time(p.s_updated))) f(field, lv, sv)
     WHERE f.sv IS NOT NULL AND f.lv IS DISTINCT FROM f.sv;

    -- lines of the period's service dates whose report the ledger lacks
    INSERT INTO tracktik_audit_diff (kind, report_id, field, ledger_value,
                                     source_value)
    SELECT 'billing_without_report', b.report_id, 'line ' || b.id,
           b.kind || ' ' || b.bill_code || ' x ' || b.quantity
           || ' on ' || b.service_date, NULL
      FROM billing_lines b
     WHERE b.service_date >= (p_from AT TIME ZONE 'UTC')::date
       AND b.service_date < (p_to AT TIME ZONE 'UTC')::date
       AND NOT EXISTS (SELECT 1 FROM incidents_ledger l
                        WHERE l.report_id = b.report_id);

    -- a charge no credit has taken back bills the report
    CREATE TEMPORARY TABLE tracktik_audit_unbilled ON COMMIT DROP AS
    SELECT l.report_id, extract(epoch FROM l.occurred_at)::bigint
               AS occurred_at,
           l.client_id, l.site_id, l.category_id, l.category,
           l.report_template_id, l.report_template, l.severity, l.status,
           l.time_zone
      FROM tracktik_audit_led l
     WHERE l.occurred_at >= p_from AND l.occurred_at < p_to
       AND NOT EXISTS (SELECT 1 FROM billing_lines c
                        WHERE c.report_id = l.report_id
                          AND c.kind = 'charge'
                          AND NOT EXISTS (SELECT 1 FROM billing_lines r
                                           WHERE r.credits_line_id = c.id));

    RETURN QUERY
    SELECT (SELECT count(*) FROM tracktik_audit_led
             WHERE occurred_at >= p_from AND occurred_at < p_to),
           (SELECT count(*) FROM tracktik_audit_src
             WHERE occurred_at >= p_from AND occurred_at < p_to),
           v_pending;
END
$$;

-- the count of each kind, every kind named (0 when none)
CREATE OR REPLACE FUNCTION tracktik_audit_summary()
RETURNS TABLE (kind text, n bigint) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT k.kind, count(d.kind)
      FROM unnest(ARRAY['missing_from_ledger', 'missing_from_source',
                        'changed', 'billing_without_report',
                        'should_have_billed']) WITH ORDINALITY k(kind, o)
      LEFT JOIN tracktik_audit_diff d ON d.kind = k.kind
     GROUP BY k.kind, k.o
     ORDER BY k.o;
END
$$;

-- audit.csv's lines (CRLF ended, the header first), in the order of
-- the file: kind, report, field.  Values as the portal's CSV writes them
-- (portal_csv(): quoted when needed, a leading = + - @ defused)
CREATE OR REPLACE FUNCTION tracktik_audit_csv_lines()
RETURNS TABLE (line text) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT E'kind,report_id,field,ledger_value,source_value\r\n'
    UNION ALL
    (SELECT concat_ws(',', d.kind, d.report_id::text, portal_csv(d.field),
                      portal_csv(d.ledger_value),
                      portal_csv(d.source_value)) || E'\r\n'
       FROM tracktik_audit_diff d
      ORDER BY array_position(ARRAY['missing_from_ledger',
                                    'missing_from_source', 'changed',
                                    'billing_without_report',
                                    'should_have_billed'], d.kind),
               d.report_id, d.field);
END
$$;

-- the schedule keeps the audit it just ran (inside its transaction)
CREATE OR REPLACE FUNCTION tracktik_audit_record(p_pull bigint,
    p_source text, p_from timestamptz, p_to timestamptz,
    p_ledger bigint, p_source_reports bigint, p_pending bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
BEGIN
    INSERT INTO tracktik_audit_runs (pull_id, source, period_from,
               period_to, ledger_reports, source_reports, pending,
               missing_from_ledger, missing_from_source, changed,
               billing_without_report, should_have_billed, agrees, csv)
    SELECT p_pull, p_source, p_from, p_to, p_ledger, p_source_reports,
           p_pending,
           sum(s.n) FILTER (WHERE s.kind = 'missing_from_ledger'),
           sum(s.n) FILTER (WHERE s.kind = 'missing_from_source'),
           sum(s.n) FILTER (WHERE s.kind = 'changed'),
           sum(s.n) FILTER (WHERE s.kind = 'billing_without_report'),
           sum(s.n) FILTER (WHERE s.kind = 'should_have_billed'),
           sum(s.n) = 0,
           (SELECT string_agg(c.line, '' ORDER BY c.o)
              FROM tracktik_audit_csv_lines() WITH ORDINALITY c(line, o))
      FROM tracktik_audit_summary() s
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
