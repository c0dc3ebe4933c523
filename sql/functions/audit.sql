-- audit.sql: what `tracktik-worker audit --source api|FILE` calls
-- (src/worker/audit.c; doc/audit.md), and what the schedule keeps of its
-- audits (tracktik_audit_runs, migrations/021_audit.sql).
--
-- One transaction per audit, all of it in temporary tables gone at its
-- end (the ledger is only read):
--   SELECT tracktik_audit_begin(p_file);   the staging and result tables
--   COPY tracktik_audit_source ...         FILE: the export's rows
--   SELECT tracktik_audit_stage_page(...)  api: each listed page
--   SELECT * FROM tracktik_audit_stage_pull(p_pull)  the schedule: the
--                                          pages its pull kept
--   SELECT * FROM tracktik_audit_compare(p_file, p_from, p_to, ...);
--   meanwhile, on a second connection:
--   FETCH ... tracktik_audit_unbilled(...) the worker asks the contract
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

-- The staging tables.  p_file: the export's rows come by COPY (binary,
-- only the compared columns: audit_stage.c); else the API's pages, one
-- statement a page.  Either way the same table, so the comparison reads
-- one shape.  Temporary tables live in the session's local buffers, 8 MB
-- unless told: a million staged rows would go through the file system,
-- so the audit asks for more (possible only before the session's first
-- temporary table; a session that had one keeps its size, which is only
-- slower).
CREATE OR REPLACE FUNCTION tracktik_audit_begin(p_file boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM set_config('temp_buffers', '512MB', false);
    EXCEPTION WHEN invalid_parameter_value THEN
        NULL;
    END;

    -- only the compared columns (of the import's staging, only these
    -- are read); line: the source's order (the export's line, the API's
    -- listing), the last tie-break between two rows of one report
    CREATE TEMPORARY TABLE tracktik_audit_source (
        line bigserial, report_id bigint NOT NULL,
        occurred_at timestamptz NOT NULL, client_id bigint, site_id bigint,
        severity text, category text, report_template text, status text,
        updated_on timestamptz
    ) ON COMMIT DROP;

    CREATE TEMPORARY TABLE tracktik_audit_diff (
        kind          text NOT NULL,
        report_id     bigint,
        field         text NOT NULL DEFAULT '',
        ledger_value  text,
        source_value  text
    ) ON COMMIT DROP;
END
$$;

-- the compared columns of listed reports, as the worker read them: the
-- array ledger.c writes for tracktik_record_batch(), each report parsed
-- as a webhook's and enriched as `run` enriches it (a listed report names
-- its site; its client is the site's parent, enrich.c), so client_id is
-- what the ledger holds for it.  One reading for both the API audit's
-- pages and a pull's (tracktik_pull_page(), pull.sql).
CREATE OR REPLACE FUNCTION tracktik_audit_items(p_items jsonb)
RETURNS TABLE (report_id bigint, occurred_at timestamptz, client_id bigint,
               site_id bigint, severity text, category text,
               report_template text, status text, updated_on timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT x.report_id, x.occurred_at, x.client_id, x.site_id, x.severity,
           x.category, x.report_template, x.status, x.updated_on
      FROM jsonb_to_recordset(p_items) AS x(report_id bigint,
               occurred_at timestamptz, client_id bigint, site_id bigint,
               severity text, category text, report_template text,
               status text, updated_on timestamptz);
$$;

-- one page of /rest/v1/reports listed by `audit --source api`
CREATE OR REPLACE FUNCTION tracktik_audit_stage_page(p_items jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    INSERT INTO tracktik_audit_source (report_id, occurred_at, client_id,
                                       site_id, severity, category,
                                       report_template, status,
                                       updated_on)
    SELECT * FROM tracktik_audit_items(p_items);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- The schedule's audit: the source is what pull p_pull listed
-- (tracktik_pull_seen, staged page by page as the pull went: pull.sql),
-- in the listing's order, not a second listing.  Refused unless the
-- pull listed its whole range and every report it listed was staged (a
-- pull that listed pages without staging them, or whose page could not
-- be read for the audit, saw its window only in part: no audit is
-- better than one that calls the unseen reports missing).  Returns the
-- rows staged and the pull's updated_since (the listing's updatedOn:gte;
-- NULL: the whole window).
CREATE OR REPLACE FUNCTION tracktik_audit_stage_pull(p_pull bigint)
RETURNS TABLE (source_rows bigint, updated_since timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_pull  tracktik_pulls%ROWTYPE;
    v_n     bigint;
BEGIN
    SELECT * INTO v_pull FROM tracktik_pulls p WHERE p.id = p_pull;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no pull %', p_pull USING ERRCODE = '22023';
    END IF;

    IF v_pull.listed_at IS NULL THEN
        RAISE EXCEPTION 'pull % has not listed its whole range: its window '
            'was only partly seen, so it is not audited', p_pull
            USING ERRCODE = '55000';
    END IF;

    INSERT INTO tracktik_audit_source (report_id, occurred_at, client_id,
                                       site_id, severity, category,
                                       report_template, status,
                                       updated_on)
    SELECT s.report_id, s.occurred_at, s.client_id, s.site_id, s.severity,
           s.category, s.report_template, s.status, s.updated_on
      FROM tracktik_pull_seen s
     WHERE s.pull_id = p_pull
     ORDER BY s.line;
    GET DIAGNOSTICS v_n = ROW_COUNT;

    IF v_n <> v_pull.reports THEN
        RAISE EXCEPTION 'pull % listed % reports but % of them were kept '
            'for its audit: its window was only partly seen, so it is not '
            'audited', p_pull, v_pull.reports, v_n USING ERRCODE = '55000';
    END IF;

    source_rows := v_n;
    updated_since := v_pull.updated_since;
    RETURN NEXT;
END
$$;

-- a time as the CSV and the HTML show it
-- (STABLE as to_char() is, so that it is inlined where it is called)
CREATE OR REPLACE FUNCTION tracktik_audit_time(p timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The comparison, set-wise, in one pass over each side.  The reports
-- looked at: every report with a ledger version or a source row that
-- occurred in [p_from, p_to) (so a report whose time moved out of the
-- period on one side is "changed", not missing on both); for each, the
-- ledger's newest version and the source's newest row (an export may
-- repeat a report: the latest updatedOn, then the last line).  (What
-- should have billed is found meanwhile on another connection:
-- tracktik_audit_unbilled() below.)
--
-- The ledger's newest versions come straight from its (report_id,
-- version) index, newest first, with no sort.  p_unique: the worker saw
-- every source row's report id greater than the last one's (an export
-- sorted by ID), so no report repeats and the staged rows are the
-- source's newest as they are, with no sort either.  One full join of
-- the two sides keeps, in tracktik_audit_work, the reports only one
-- side has and the pairs that differ somewhere (found on the typed
-- values; only those are taken apart field by field, as text).  When
-- every ledger version
-- lies in the period (an audit of the whole history) every ledger
-- report is looked at and the index is read whole; otherwise only the
-- reports of the period are fetched from it.
--
-- p_pending (the schedule's audit, right after its pull): a report
-- whose pulled job is still queued or running is left out on both sides
-- and counted as pending, since `run` has not recorded it yet.
--
-- p_since (the schedule's audit of a pull that listed only the reports
-- updated since then): the source is every report of the period updated
-- since p_since, so a ledger report the source lacks is missing from it
-- only when the ledger's newest version was updated since p_since too;
-- one updated before is simply not seen by this audit, and is left out
-- of the comparison and the ledger's count.  NULL: the whole period.
--
-- Returns how many reports each side holds for the period, and the
-- pending ones.
CREATE OR REPLACE FUNCTION tracktik_audit_compare(p_file boolean,
    p_from timestamptz, p_to timestamptz, p_pending boolean,
    p_unique boolean, p_since timestamptz)
RETURNS TABLE (ledger_reports bigint, source_reports bigint,
               pending bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_pending  bigint := 0;
    v_ledger   bigint;
    v_source   bigint;
    v_whole    boolean;
    v_skip     text := '';
    v_src      text;
    v_scope    text := '';
BEGIN
    -- plans that run once: compiling them would cost more than it saves
    SET LOCAL jit = off;
    SET LOCAL work_mem = '256MB';

    ANALYZE tracktik_audit_source;

    IF p_pending THEN
        -- a pulled job's payload is the listed report (pull.sql)
        CREATE TEMPORARY TABLE tracktik_audit_pending ON COMMIT DROP AS
        SELECT DISTINCT (j.payload->>'id')::bigint AS report_id
          FROM tracktik_jobs j
         WHERE j.dedupe_key LIKE 'pull:%'
           AND j.state IN ('queued', 'running');

        SELECT count(*) INTO v_pending
          FROM (SELECT DISTINCT ON (s.report_id) s.occurred_at
                  FROM tracktik_audit_source s
                 WHERE s.report_id IN (SELECT report_id
                                         FROM tracktik_audit_pending)
                 ORDER BY s.report_id, s.updated_on DESC NULLS LAST,
                          s.line DESC) n
         WHERE n.occurred_at >= p_from AND n.occurred_at < p_to;

        v_skip := ' AND report_id NOT IN (SELECT report_id'
                  '  FROM tracktik_audit_pending)';
    END IF;

    -- the source's newest row of each report
    IF p_unique THEN
        v_src := 'SELECT * FROM tracktik_audit_source WHERE true' || v_skip;
    ELSE
        v_src := 'SELECT DISTINCT ON (report_id) * FROM tracktik_audit_source'
                 ' WHERE true' || v_skip || ' ORDER BY report_id,'
                 ' updated_on DESC NULLS LAST, line DESC';
    END IF;

    SELECT coalesce(min(occurred_at) >= p_from AND max(occurred_at) < p_to,
                    true)
      INTO v_whole FROM incidents_ledger;

    IF NOT v_whole THEN
        v_scope := format(' AND report_id IN (SELECT report_id'
                          ' FROM incidents_ledger WHERE occurred_at >= $1'
                          ' AND occurred_at < $2 UNION ALL SELECT'
                          ' report_id FROM (%s) s WHERE occurred_at >= $1'
                          ' AND occurred_at < $2)', v_src);
    END IF;

    -- the reports only one side has, and the pairs that differ
    CREATE TEMPORARY TABLE tracktik_audit_work (
        report_id           bigint NOT NULL,
        in_ledger           boolean NOT NULL,
        in_source           boolean NOT NULL,
        l_occurred          timestamptz, s_occurred  timestamptz,
        l_client            bigint,      s_client    bigint,
        l_site              bigint,      s_site      bigint,
        l_severity          text,        s_severity  text,
        l_category          text,        s_category  text,
        l_template          text,        s_template  text,
        l_status            text,        s_status    text,
        l_updated           timestamptz, s_updated   timestamptz
    ) ON COMMIT DROP;

    EXECUTE format($q$
    INSERT INTO tracktik_audit_work
    SELECT coalesce(l.report_id, s.report_id), l.report_id IS NOT NULL,
           s.report_id IS NOT NULL, l.occurred_at, s.occurred_at,
           l.client_id, s.client_id, l.site_id, s.site_id, l.severity,
           s.severity, l.category, s.category, l.report_template,
           s.report_template, l.status, s.status, l.updated_on,
           s.updated_on
      FROM (SELECT DISTINCT ON (report_id) report_id, occurred_at,
                   client_id, site_id, severity, category, report_template,
                   status, updated_on
              FROM incidents_ledger
             WHERE true %s %s
             ORDER BY report_id DESC, version DESC) l
      FULL JOIN (%s) s ON s.report_id = l.report_id
     WHERE (l.report_id IS NOT NULL
            OR (s.occurred_at >= $1 AND s.occurred_at < $2))
       AND (s.report_id IS NOT NULL OR $3::timestamptz IS NULL
            OR l.updated_on >= $3)
       AND (l.report_id IS NULL OR s.report_id IS NULL
            OR l.occurred_at IS DISTINCT FROM s.occurred_at
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
            OR (s.status IS NOT NULL AND l.status IS DISTINCT FROM s.status)
            OR (s.updated_on IS NOT NULL
                AND l.updated_on IS DISTINCT FROM s.updated_on))
    $q$, v_skip, v_scope, v_src)
    USING p_from, p_to, p_since;

    -- how many reports each side holds for the period
    IF v_whole AND NOT p_pending AND p_since IS NULL THEN
        SELECT count(*) INTO v_ledger
          FROM (SELECT DISTINCT report_id FROM incidents_ledger) n;
    ELSE
        EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT ON'
                       ' (report_id) report_id, occurred_at, updated_on'
                       ' FROM incidents_ledger WHERE true %s %s'
                       ' ORDER BY report_id, version DESC) n'
                       ' WHERE occurred_at >= $1 AND occurred_at < $2'
                       ' AND ($3::timestamptz IS NULL OR updated_on >= $3'
                       ' OR report_id IN (SELECT report_id FROM (%s) s))',
                       v_skip, v_scope, v_src)
        INTO v_ledger USING p_from, p_to, p_since;
    END IF;

    EXECUTE format('SELECT count(*) FROM (%s) s WHERE occurred_at >= $1'
                   ' AND occurred_at < $2', v_src)
    INTO v_source USING p_from, p_to;

    INSERT INTO tracktik_audit_diff (kind, report_id, ledger_value,
                                     source_value)
    SELECT CASE WHEN w.in_ledger THEN 'missing_from_source'
                ELSE 'missing_from_ledger' END,
           w.report_id, tracktik_audit_time(w.l_occurred),
           tracktik_audit_time(w.s_occurred)
      FROM tracktik_audit_work w
     WHERE NOT (w.in_ledger AND w.in_source);

    INSERT INTO tracktik_audit_diff (kind, report_id, field, ledger_value,
                                     source_value)
    SELECT 'changed', w.report_id, f.field, f.lv, f.sv
      FROM tracktik_audit_work w
     CROSS JOIN LATERAL (VALUES
            ('occurred_at', tracktik_audit_time(w.l_occurred),
             tracktik_audit_time(w.s_occurred)),
            ('client_id', w.l_client::text, w.s_client::text),
            ('site_id', w.l_site::text, w.s_site::text),
            ('severity', w.l_severity, w.s_severity),
            ('category', w.l_category, w.s_category),
            ('report_template', w.l_template, w.s_template),
            ('status', w.l_status, w.s_status),
            ('updated_on', tracktik_audit_time(w.l_updated),
             tracktik_audit_time(w.s_updated))) f(field, lv, sv)
     WHERE w.in_ledger AND w.in_source
       AND f.sv IS NOT NULL AND f.lv IS DISTINCT FROM f.sv;

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

    RETURN QUERY SELECT v_ledger, v_source, v_pending;
END
$$;

-- The ledger's reports whose newest version occurred in [p_from, p_to)
-- and that have no open charge (a charge no credit has taken back), for
-- the worker to try against the contract rules.  audit.c reads it
-- through a cursor on a connection of its own while
-- tracktik_audit_compare() runs, so that the rules and the comparison
-- overlap.  p_pending: a report whose pulled job is still queued or
-- running is left out, as the comparison leaves it out.  A SQL function
-- with one query, inlined into the cursor's, so the rows stream; the
-- open charges are a hashed set (NOT IN: billing_lines.report_id is
-- never NULL), whatever the planner guesses of the period's share.
CREATE OR REPLACE FUNCTION tracktik_audit_unbilled(p_from timestamptz,
    p_to timestamptz, p_pending boolean)
RETURNS TABLE (report_id bigint, occurred_at bigint, client_id bigint,
               site_id bigint, category_id bigint, category text,
               report_template_id bigint, report_template text,
               severity text, status text, time_zone text)
LANGUAGE sql STABLE AS $$
    SELECT l.report_id, extract(epoch FROM l.occurred_at)::bigint,
           l.client_id, l.site_id, l.category_id, l.category,
           l.report_template_id, l.report_template, l.severity, l.status,
           l.time_zone
      FROM (SELECT DISTINCT ON (n.report_id) n.report_id, n.occurred_at,
                   n.client_id, n.site_id, n.category_id, n.category,
                   n.report_template_id, n.report_template, n.severity,
                   n.status, n.time_zone
              FROM incidents_ledger n
             WHERE n.report_id IN (SELECT v.report_id
                                     FROM incidents_ledger v
                                    WHERE v.occurred_at >= p_from
                                      AND v.occurred_at < p_to)
             ORDER BY n.report_id DESC, n.version DESC) l
     WHERE l.occurred_at >= p_from AND l.occurred_at < p_to
       AND l.report_id NOT IN (SELECT c.report_id FROM billing_lines c
                                WHERE c.kind = 'charge'
                                  AND NOT EXISTS (SELECT 1
                                                    FROM billing_lines r
                                                   WHERE r.credits_line_id
                                                         = c.id))
       AND NOT (p_pending
                AND l.report_id IN (SELECT (j.payload->>'id')::bigint
                                      FROM tracktik_jobs j
                                     WHERE j.dedupe_key LIKE 'pull:%'
                                       AND j.state IN ('queued',
                                                       'running')))
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

-- the schedule keeps the audit it just ran (inside its transaction);
-- p_since: the source held only the reports updated since then (NULL:
-- the whole period).  The pages its pull kept for it are no longer
-- needed, nor those of earlier pulls that were never audited (failed,
-- abandoned, or run without their audit).
CREATE OR REPLACE FUNCTION tracktik_audit_record(p_pull bigint,
    p_source text, p_from timestamptz, p_to timestamptz,
    p_ledger bigint, p_source_reports bigint, p_pending bigint,
    p_since timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
BEGIN
    INSERT INTO tracktik_audit_runs (pull_id, source, period_from,
               period_to, ledger_reports, source_reports, pending,
               missing_from_ledger, missing_from_source, changed,
               billing_without_report, should_have_billed, agrees, csv,
               updated_since)
    SELECT p_pull, p_source, p_from, p_to, p_ledger, p_source_reports,
           p_pending,
           sum(s.n) FILTER (WHERE s.kind = 'missing_from_ledger'),
           sum(s.n) FILTER (WHERE s.kind = 'missing_from_source'),
           sum(s.n) FILTER (WHERE s.kind = 'changed'),
           sum(s.n) FILTER (WHERE s.kind = 'billing_without_report'),
           sum(s.n) FILTER (WHERE s.kind = 'should_have_billed'),
           sum(s.n) = 0,
           (SELECT string_agg(c.line, '' ORDER BY c.o)
              FROM tracktik_audit_csv_lines() WITH ORDINALITY c(line, o)),
           p_since
      FROM tracktik_audit_summary() s
    RETURNING id INTO v_id;

    DELETE FROM tracktik_pull_seen s
     WHERE s.pull_id = p_pull
        OR s.pull_id IN (SELECT p.id FROM tracktik_pulls p
                          WHERE p.id < p_pull AND p.status <> 'running');
    RETURN v_id;
END
$$;
