-- 003_contract_rules_billing: versioned contract rule sets and the billing
-- lines the worker derives from ledger rows.
--
-- `tracktik-worker contracts load FILE` stores each file as a new rule
-- set version (the validated document plus one row per rule); rule sets
-- are never changed afterwards.  billing_lines are never edited either:
-- when a later report version bills something else, the worker adds a
-- credit line (negative quantity, credits_line_id = the charge it undoes)
-- and a new charge.  Only the posting columns (state, posted_at,
-- external_id, last_error) may change, for the TrackTik billing client.

CREATE TABLE contract_rule_sets (
    version         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    effective_from  timestamptz NOT NULL,
    name            text NOT NULL DEFAULT '',
    source_file     text NOT NULL DEFAULT '',
    document        jsonb NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now(),
    loaded_by       text NOT NULL DEFAULT current_user
);

CREATE TABLE contract_rules (
    rule_set_version  integer NOT NULL REFERENCES contract_rule_sets,
    rule_id           text NOT NULL,
    position          integer NOT NULL,
    priority          integer NOT NULL,
    bill_code         text NOT NULL,
    definition        jsonb NOT NULL,
    PRIMARY KEY (rule_set_version, rule_id)
);

-- rule sets are immutable (contract_rules_immutable():
-- sql/functions/triggers.sql)
CREATE TRIGGER contract_rule_sets_immutable
    BEFORE UPDATE OR DELETE ON contract_rule_sets
    FOR EACH ROW EXECUTE FUNCTION contract_rules_immutable();

CREATE TRIGGER contract_rules_immutable
    BEFORE UPDATE OR DELETE ON contract_rules
    FOR EACH ROW EXECUTE FUNCTION contract_rules_immutable();

CREATE TRIGGER contract_rule_sets_no_truncate
    BEFORE TRUNCATE ON contract_rule_sets
    FOR EACH STATEMENT EXECUTE FUNCTION contract_rules_immutable();

CREATE TRIGGER contract_rules_no_truncate
    BEFORE TRUNCATE ON contract_rules
    FOR EACH STATEMENT EXECUTE FUNCTION contract_rules_immutable();

CREATE TABLE billing_lines (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key   text NOT NULL UNIQUE,
    kind              text NOT NULL CHECK (kind IN ('charge', 'credit')),
    report_id         bigint NOT NULL,
    ledger_id         bigint NOT NULL REFERENCES incidents_ledger,
    ledger_version    integer NOT NULL,
    rule_set_version  integer NOT NULL,
    rule_id           text NOT NULL,
    bill_code         text NOT NULL,
    quantity          numeric NOT NULL,
    unit_price        numeric,
    service_date      date NOT NULL,
    client_id         bigint,
    site_id           bigint,
    credits_line_id   bigint UNIQUE REFERENCES billing_lines,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'posted', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    posted_at         timestamptz,
    external_id       text,
    last_error        text,
    FOREIGN KEY (rule_set_version, rule_id) REFERENCES contract_rules,
    CHECK ((kind = 'credit') = (credits_line_id IS NOT NULL)),
    CHECK ((kind = 'charge' AND quantity >= 0)
           OR (kind = 'credit' AND quantity <= 0))
);

CREATE INDEX billing_lines_report ON billing_lines (report_id);
CREATE INDEX billing_lines_pending ON billing_lines (id)
    WHERE state = 'pending';

-- lines are never deleted, and only their posting columns change
-- (billing_lines_guard(): sql/functions/triggers.sql)
CREATE TRIGGER billing_lines_guard
    BEFORE UPDATE OR DELETE ON billing_lines
    FOR EACH ROW EXECUTE FUNCTION billing_lines_guard();

CREATE TRIGGER billing_lines_no_truncate
    BEFORE TRUNCATE ON billing_lines
    FOR EACH STATEMENT EXECUTE FUNCTION billing_lines_guard();
