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
