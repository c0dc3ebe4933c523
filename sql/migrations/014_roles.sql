-- 014_roles: least privilege that the runtime actually uses.
--
-- The owner (the role that runs migrate) owns every table, view,
-- sequence and function; only it may ALTER or DROP them, so only it can
-- drop or disable the triggers that keep the ledger append-only and the
-- rule sets and billing lines unchanged.  It is meant for migrate and
-- the operator's commands (contracts load, users, auth login, dead-letter
-- replay), never for a daemon.  Each daemon logs in as a role that is a
-- member of one of these NOLOGIN roles (doc/production-roles.md):
--
--   tracktik_ingest_role   nginx's tracktik_postgres: tracktik_ingest()
--                          and tracktik_dead_letter_store(), INSERT of
--                          deliveries, jobs and dead letters (012 and
--                          functions/ingest.sql); reads nothing else.
--   tracktik_portal_role   nginx's tracktik_portal_postgres: EXECUTE on
--                          the portal's entry points only
--                          (functions/zz_privileges.sql makes them SECURITY
--                          DEFINER, owned by the owner, with a fixed
--                          search_path); no table of its own, so the
--                          grants 004, 009 and 010 gave it are taken back.
--   tracktik_worker_role   `tracktik-worker run`: the queue, the ledger
--                          (SELECT, INSERT), rule sets, photos, the lookup
--                          caches, the OAuth session (enrichment and photo
--                          downloads call the API), the request budget,
--                          the portal's housekeeping.
--   tracktik_billing_role  `tracktik-worker billing sync`: reads pending
--                          billing lines and the ledger rows' ids and raw
--                          entities (the post), posts them (the posting
--                          columns only), its mapping tables, the OAuth
--                          session and the request budget.
--   tracktik_notify_role   the notification sender: reads incidents and
--                          account names (what exists now; its own tables
--                          get their grants where they are created).
--
-- tracktik_oauth holds the client secret and the tokens in plaintext:
-- only the worker and billing roles may read it (and update it: a refresh
-- rotates the single-use refresh token); `auth login` is the owner's.
-- Nobody gets TRIGGER, REFERENCES or TRUNCATE, nor any grant on
-- tracktik_schema_migrations.  Identity columns draw their ids without
-- any sequence privilege, so no sequence is granted here.
--
-- Like 004: the roles are created only when the migrating role may create
-- roles (else a NOTICE, and an administrator creates them).  Their
-- privileges are not here but in functions/zz_privileges.sql (the ingest
-- role's in functions/ingest.sql), applied by every migrate to whichever
-- of the roles exist: a role made after this migration gets them at the
-- next migrate.

-- nothing by default; the roles below get what they use
REVOKE ALL ON tracktik_jobs, tracktik_deliveries, incidents_ledger,
    incidents_current, contract_rule_sets, contract_rules, billing_lines,
    tracktik_oauth, tracktik_api_budget, tracktik_bill_items,
    tracktik_site_contracts, tracktik_positions, tracktik_billing_attempts,
    tracktik_accounts, portal_users, portal_sessions, portal_login_failures,
    portal_attachments, portal_billing_open, tracktik_photos,
    incidents_search, incidents_hidden_files, portal_attachments_shown,
    incidents_daily, portal_event_streams, portal_event_key,
    tracktik_dead_letters
    FROM PUBLIC;

REVOKE ALL ON SEQUENCE tracktik_jobs_id_seq, incidents_ledger_id_seq,
    contract_rule_sets_version_seq, billing_lines_id_seq,
    portal_users_id_seq, portal_event_streams_id_seq,
    tracktik_dead_letters_id_seq
    FROM PUBLIC;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tracktik_ingest_role', 'tracktik_portal_role',
                             'tracktik_worker_role', 'tracktik_billing_role',
                             'tracktik_notify_role']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'tracktik roles not created: % may not create roles',
            current_user;
END
$$;
