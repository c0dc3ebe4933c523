-- triggers.sql: the functions of the migrations' triggers.
--
-- Applied before the migrations (the others after them): a CREATE
-- TRIGGER needs its function.  So these may use no table or type a
-- migration creates in their declarations (their bodies are plpgsql,
-- resolved when they run).

-- 001: one NOTIFY per inserting statement wakes LISTENing workers;
-- NOTIFY is delivered at commit, so a worker never wakes for an
-- uncommitted job
CREATE OR REPLACE FUNCTION tracktik_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tracktik_jobs', '');
    RETURN NULL;
END
$$;

-- 002: the ledger is append-only, whoever asks
CREATE OR REPLACE FUNCTION incidents_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incidents_ledger is append-only: % is not allowed',
        TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'An updated report is recorded as a new version row.';
END
$$;

-- 003: rule sets are never changed after they are loaded
CREATE OR REPLACE FUNCTION contract_rules_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Load a new rule set version instead.';
END
$$;

-- 003: billing lines are never deleted; only the posting columns
-- (state, posted_at, external_id, last_error) may change
CREATE OR REPLACE FUNCTION billing_lines_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'billing_lines are never deleted: % is not allowed',
            TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Correct a line with a credit line and a new line.';
    END IF;

    IF (NEW.id, NEW.idempotency_key, NEW.kind, NEW.report_id, NEW.ledger_id,
        NEW.ledger_version, NEW.rule_set_version, NEW.rule_id, NEW.bill_code,
        NEW.quantity, NEW.unit_price, NEW.service_date, NEW.client_id,
        NEW.site_id, NEW.credits_line_id, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.idempotency_key, OLD.kind, OLD.report_id, OLD.ledger_id,
        OLD.ledger_version, OLD.rule_set_version, OLD.rule_id, OLD.bill_code,
        OLD.quantity, OLD.unit_price, OLD.service_date, OLD.client_id,
        OLD.site_id, OLD.credits_line_id, OLD.created_at)
    THEN
        RAISE EXCEPTION 'billing_lines are never edited: only state, '
                        'posted_at, external_id and last_error may change'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Correct a line with a credit line and a new line.';
    END IF;

    RETURN NEW;
END
$$;

-- 010: a time zone PostgreSQL knows, or UTC for one it does not (a
-- report's zone comes from the tenant; it must not fail the insert)
CREATE OR REPLACE FUNCTION tracktik_time_zone(p_zone text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE p_zone;
    RETURN p_zone;
EXCEPTION
    WHEN data_exception THEN
        RETURN 'UTC';
END
$$;

-- 010: incidents_daily follows the ledger.  Per inserting statement, for
-- each report it touched: when the newest version is now one of the new
-- rows, the report's previous newest version (if APPROVED) leaves its
-- day's count and the new one (if APPROVED) joins its day's.  The deltas
-- are summed per key and applied in key order (no deadlock between two
-- statements); ON CONFLICT makes concurrent statements add up.  Two
-- transactions never both add a version of one report: each new version
-- is the newest visible + 1 (tracktik_record_batch), so the second
-- collides with the first on (report_id, version) and rolls back.
CREATE OR REPLACE FUNCTION incidents_daily_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH touched AS (
        SELECT a.report_id, max(a.version) AS top,
               array_agg(a.version) AS versions
          FROM added a
         GROUP BY a.report_id
    ), before AS (
        -- the newest version among the rows that were there before (a
        -- join, not LATERAL: a bulk load may hash it)
        SELECT DISTINCT ON (l.report_id) l.report_id, l.version,
               l.occurred_at, l.time_zone, l.client_id, l.site_id,
               l.severity, l.status
          FROM incidents_ledger l
          JOIN touched t ON t.report_id = l.report_id
         WHERE l.version <> ALL (t.versions)
         ORDER BY l.report_id, l.version DESC
    ), moved AS (
        SELECT t.report_id, t.top, o.occurred_at, o.time_zone,
               o.client_id, o.site_id, o.severity, o.status
          FROM touched t
          LEFT JOIN before o ON o.report_id = t.report_id
         WHERE o.version IS NULL OR o.version < t.top
    ), delta AS (
        SELECT a.occurred_at, a.time_zone, a.client_id, a.site_id,
               a.severity, 1 AS n
          FROM moved m
          JOIN added a ON a.report_id = m.report_id AND a.version = m.top
         WHERE a.status = 'APPROVED' AND a.client_id IS NOT NULL
        UNION ALL
        SELECT m.occurred_at, m.time_zone, m.client_id, m.site_id,
               m.severity, -1
          FROM moved m
         WHERE m.status = 'APPROVED' AND m.client_id IS NOT NULL
    ), zones AS (
        SELECT z.time_zone, tracktik_time_zone(z.time_zone) AS zone
          FROM (SELECT DISTINCT d.time_zone FROM delta d) z
    )
    INSERT INTO incidents_daily AS r (utc_day, client_id, site_id, severity,
                                      local_day, n)
    SELECT (d.occurred_at AT TIME ZONE 'UTC')::date, d.client_id, d.site_id,
           d.severity, (d.occurred_at AT TIME ZONE z.zone)::date, sum(d.n)
      FROM delta d
      JOIN zones z ON z.time_zone = d.time_zone
     GROUP BY 1, 2, 3, 4, 5
    HAVING sum(d.n) <> 0
     ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (utc_day, client_id, site_id, severity, local_day)
        DO UPDATE SET n = r.n + EXCLUDED.n;

    RETURN NULL;
END
$$;
