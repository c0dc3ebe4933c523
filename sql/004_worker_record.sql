-- 004_worker_record: what the worker runs per report, and its grants.
--
-- tracktik_record_report() appends one report version to the ledger and
-- brings its billing lines in line with what the contract rules (applied
-- by the worker) say it should bill, in the caller's transaction:
--   * identical content already in the ledger     -> 'duplicate', nothing
--   * older updatedOn than the newest version     -> 'stale', nothing
--   * otherwise a new version row                 -> 'appended', then
--     open charges that the new version no longer bills get a credit line
--     and lines it bills that are not open yet get a new charge.  A
--     version that bills the same (bill code, quantity, unit price) adds
--     no line at all.
-- Reports are serialized with a transaction advisory lock on the report
-- id, so several workers never race on one report's version numbers.
--
-- Roles: the owner (the role that ran the migrations) is not meant to be
-- the runtime role in production.  When the migrating role may create
-- roles, two NOLOGIN roles are created for GRANT ... TO <login role>:
--   tracktik_worker_role  runs the worker: job queue read/write, ledger
--                         SELECT/INSERT only, billing lines INSERT and
--                         posting-column UPDATE, rule sets SELECT/INSERT.
--   tracktik_portal_role  reads incidents_current and billing lines.
-- Nobody but the owner gets UPDATE/DELETE/TRUNCATE on the ledger, and the
-- triggers refuse them even to the owner.

-- lease rescue scans running jobs by lease end
CREATE INDEX tracktik_jobs_leases
    ON tracktik_jobs (locked_until) WHERE state = 'running';

CREATE FUNCTION tracktik_record_report(
    p_job_id              bigint,
    p_report_id           bigint,
    p_occurred_at         timestamptz,
    p_client_id           bigint,
    p_site_id             bigint,
    p_severity            text,
    p_category            text,
    p_category_id         bigint,
    p_report_template     text,
    p_report_template_id  bigint,
    p_status              text,
    p_time_zone           text,
    p_updated_on          timestamptz,
    p_raw                 jsonb,
    p_service_date        date,
    p_lines               jsonb,
    OUT outcome           text,
    OUT version           integer,
    OUT lines_charged     integer,
    OUT lines_credited    integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_sha256     text;
    v_event_id   text;
    v_latest     integer;
    v_latest_on  timestamptz;
    v_ledger_id  bigint;
BEGIN
    lines_charged := 0;
    lines_credited := 0;

    PERFORM pg_advisory_xact_lock(1414808660, hashint8(p_report_id));

    v_sha256 := encode(sha256(convert_to(p_raw::text, 'UTF8')), 'hex');
    v_event_id := 'report:' || p_report_id || ':' || v_sha256;

    SELECT l.version INTO version
      FROM incidents_ledger l WHERE l.event_id = v_event_id;
    IF FOUND THEN
        outcome := 'duplicate';
        RETURN;
    END IF;

    SELECT l.version, l.updated_on INTO v_latest, v_latest_on
      FROM incidents_ledger l
     WHERE l.report_id = p_report_id
     ORDER BY l.version DESC
     LIMIT 1;

    IF FOUND AND p_updated_on < v_latest_on THEN
        outcome := 'stale';
        version := v_latest;
        RETURN;
    END IF;

    version := coalesce(v_latest, 0) + 1;

    INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
        client_id, site_id, severity, category, category_id,
        report_template, report_template_id, status, time_zone, updated_on,
        raw, raw_sha256, job_id)
    VALUES (v_event_id, p_report_id, version, p_occurred_at,
        p_client_id, p_site_id, p_severity, p_category, p_category_id,
        p_report_template, p_report_template_id, p_status, p_time_zone,
        p_updated_on, p_raw, v_sha256, p_job_id)
    RETURNING id INTO v_ledger_id;

    outcome := 'appended';

    -- nothing billed before and nothing to bill now: done
    IF jsonb_array_length(p_lines) = 0
       AND NOT EXISTS (SELECT 1 FROM billing_lines b
                        WHERE b.report_id = p_report_id)
    THEN
        RETURN;
    END IF;

    WITH open AS (
        SELECT b.*,
               row_number() OVER (PARTITION BY b.bill_code, b.quantity,
                                               b.unit_price
                                  ORDER BY b.id) AS n
          FROM billing_lines b
         WHERE b.report_id = p_report_id
           AND b.kind = 'charge'
           AND NOT EXISTS (SELECT 1 FROM billing_lines c
                            WHERE c.credits_line_id = b.id)
    ), wanted AS (
        SELECT w.*,
               row_number() OVER (PARTITION BY w.bill_code, w.quantity,
                                               w.unit_price
                                  ORDER BY w.rule_id) AS n
          FROM jsonb_to_recordset(p_lines)
               AS w(rule_id text, rule_set_version integer, bill_code text,
                    quantity numeric, unit_price numeric)
    ), credited AS (
        INSERT INTO billing_lines (idempotency_key, kind, report_id,
            ledger_id, ledger_version, rule_set_version, rule_id, bill_code,
            quantity, unit_price, service_date, client_id, site_id,
            credits_line_id)
        SELECT 'credit:' || o.idempotency_key, 'credit', p_report_id,
               v_ledger_id, version, o.rule_set_version, o.rule_id,
               o.bill_code, -o.quantity, o.unit_price, o.service_date,
               o.client_id, o.site_id, o.id
          FROM open o
         WHERE NOT EXISTS (SELECT 1 FROM wanted w
                            WHERE w.bill_code = o.bill_code
                              AND w.quantity = o.quantity
                              AND w.unit_price IS NOT DISTINCT FROM
                                  o.unit_price
                              AND w.n = o.n)
        RETURNING 1
    ), charged AS (
        INSERT INTO billing_lines (idempotency_key, kind, report_id,
            ledger_id, ledger_version, rule_set_version, rule_id, bill_code,
            quantity, unit_price, service_date, client_id, site_id)
        SELECT 'report:' || p_report_id || ':v' || version || ':'
                   || w.rule_id || '@' || w.rule_set_version,
               'charge', p_report_id, v_ledger_id, version,
               w.rule_set_version, w.rule_id, w.bill_code, w.quantity,
               w.unit_price, p_service_date, p_client_id, p_site_id
          FROM wanted w
         WHERE NOT EXISTS (SELECT 1 FROM open o
                            WHERE w.bill_code = o.bill_code
                              AND w.quantity = o.quantity
                              AND w.unit_price IS NOT DISTINCT FROM
                                  o.unit_price
                              AND w.n = o.n)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM credited), (SELECT count(*) FROM charged)
      INTO lines_credited, lines_charged;
END
$$;

REVOKE ALL ON incidents_ledger, billing_lines, contract_rule_sets,
    contract_rules FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = current_user
                      AND (rolsuper OR rolcreaterole))
    THEN
        RAISE NOTICE 'tracktik roles not created: % may not create roles',
            current_user;
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = 'tracktik_worker_role') THEN
        CREATE ROLE tracktik_worker_role NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = 'tracktik_portal_role') THEN
        CREATE ROLE tracktik_portal_role NOLOGIN;
    END IF;

    GRANT SELECT, INSERT, UPDATE, DELETE ON tracktik_jobs
        TO tracktik_worker_role;
    GRANT SELECT, DELETE ON tracktik_deliveries TO tracktik_worker_role;
    GRANT SELECT, INSERT ON incidents_ledger, contract_rule_sets,
        contract_rules TO tracktik_worker_role;
    GRANT SELECT, INSERT ON billing_lines TO tracktik_worker_role;
    GRANT UPDATE (state, posted_at, external_id, last_error)
        ON billing_lines TO tracktik_worker_role;
    GRANT EXECUTE ON FUNCTION tracktik_record_report(bigint, bigint,
        timestamptz, bigint, bigint, text, text, bigint, text, bigint, text,
        text, timestamptz, jsonb, date, jsonb) TO tracktik_worker_role;

    GRANT SELECT ON incidents_current, billing_lines
        TO tracktik_portal_role;
END
$$;
