-- 004_roles_grants: who may read and write the tables of 001-003.
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
    GRANT SELECT ON incidents_current, billing_lines
        TO tracktik_portal_role;
END
$$;
