-- zz_privileges.sql: what each runtime role may do (the roles:
-- migrations/014_roles.sql; setting them up: doc/production-roles.md).
--
-- Named to come last: every function of functions/ exists when it runs.
-- Applied by every migrate, so a role an administrator creates after the
-- migrations gets its privileges at the next migrate, a new function is
-- closed to PUBLIC as soon as it lands, and CREATE OR REPLACE FUNCTION
-- (which resets SECURITY DEFINER and SET) never leaves a portal entry
-- point running as its caller.
--
-- 1. No function of ours is executable by PUBLIC: each role below gets
--    EXECUTE on exactly what it calls (directly, or through a trigger its
--    INSERT fires: a trigger's function runs as the inserting role).
-- 2. The portal's entry points (the functions nginx's portal calls:
--    portal_api_*, portal_login_hash, portal_login_open, portal_logout)
--    run as their owner (SECURITY DEFINER), with a search_path fixed to
--    this schema (and the extensions' schemas) and pg_temp last, so that
--    a caller's temporary table or function can never stand in for ours.
--    They find the user from the session token themselves and scope every
--    row to that user (portal.sql), so tracktik_portal_role needs no table
--    at all.
-- 3. The tables' grants, role by role (tracktik_ingest_role's sit beside
--    its functions in ingest.sql); what a role is not granted it may not
--    do (the owner alone may ALTER or DROP a table or its triggers).

DO $$
DECLARE
    v_path  text;
    f       regprocedure;
BEGIN
    SELECT string_agg(quote_ident(s), ', ' ORDER BY o)
      INTO v_path
      FROM (SELECT current_schema() AS s, 0 AS o
            UNION
            SELECT n.nspname, 1
              FROM pg_extension e
              JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname IN ('pgcrypto', 'pg_trgm', 'btree_gin')
               AND n.nspname <> current_schema()) x;

    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;

    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND (p.proname LIKE 'portal\_api\_%'
                OR p.proname IN ('portal_login_hash', 'portal_login_open',
                                 'portal_logout'))
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER '
                       'SET search_path = %s, pg_temp', f, v_path);

        IF EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = 'tracktik_portal_role') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s '
                           'TO tracktik_portal_role', f);
        END IF;
    END LOOP;

    -- a pulled page becomes jobs through tracktik_ingest(), as webhook
    -- deliveries do: the worker itself may not insert jobs; notifications
    -- are queued and sent through the outbox's functions only
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND p.proname IN ('tracktik_pull_page',
                             -- the outbox (015): queued by the ledger's
                             -- trigger whoever inserts, claimed and
                             -- recorded by the sender, as the owner
                             'notify_enqueue', 'notify_portal_recipient',
                             'notify_claim', 'notify_record',
                             'notify_digests_make')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER '
                       'SET search_path = %s, pg_temp', f, v_path);
    END LOOP;
END
$$;


DO $$
DECLARE
    r  record;
BEGIN
    -- nginx's tracktik_postgres (tracktik_ingest_role): its grants sit
    -- beside its two functions, at the end of ingest.sql

    -- nginx's tracktik_portal_postgres: the entry points above, nothing
    -- else (004, 009 and 010 gave it tables before they existed)
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_portal_role') THEN
        REVOKE ALL ON incidents_current, billing_lines, incidents_search,
            incidents_hidden_files, portal_attachments_shown,
            incidents_daily, portal_event_key, portal_event_streams
            FROM tracktik_portal_role;
    END IF;

    -- `tracktik-worker run`
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT EXECUTE ON FUNCTION tracktik_record_batch(jsonb),
            tracktik_photos_enqueue(jsonb),
            tracktik_api_take(text, double precision, double precision),
            tracktik_api_defer(text, double precision),
            tracktik_portal_prune(integer),
            -- called by the ledger's insert triggers and the photo queue
            tracktik_search_doc(jsonb, bigint, bigint, text, text, text),
            tracktik_visible_fields(jsonb), tracktik_field_hidden(jsonb),
            tracktik_field_file_id(jsonb), tracktik_flag_set(jsonb),
            tracktik_time_zone(text)
            TO tracktik_worker_role;
        -- the queue: claimed, leased, finished, pruned (jobs come from
        -- nginx and the operator's replay, never from the worker, and
        -- billing lines are posted by the billing role: 004 gave both)
        GRANT SELECT, UPDATE, DELETE ON tracktik_jobs TO tracktik_worker_role;
        REVOKE INSERT ON tracktik_jobs FROM tracktik_worker_role;
        REVOKE UPDATE ON billing_lines FROM tracktik_worker_role;
        GRANT SELECT, DELETE ON tracktik_deliveries TO tracktik_worker_role;
        -- the ledger and what its triggers write with each version
        GRANT SELECT, INSERT ON incidents_ledger, incidents_search
            TO tracktik_worker_role;
        GRANT SELECT, INSERT, UPDATE ON incidents_daily
            TO tracktik_worker_role;
        -- the rules it bills by, and the lines it derives
        GRANT SELECT, INSERT ON contract_rule_sets, contract_rules,
            billing_lines TO tracktik_worker_role;
        -- photos (008): queued in the batch, fetched, stored
        GRANT SELECT, INSERT, UPDATE ON tracktik_photos
            TO tracktik_worker_role;
        GRANT SELECT, INSERT ON portal_attachments TO tracktik_worker_role;
        -- enrichment's caches
        GRANT SELECT, INSERT, UPDATE ON tracktik_accounts,
            tracktik_positions TO tracktik_worker_role;
        -- the API client: the OAuth session (read, locked, refreshed)
        -- and the request budget every worker shares
        GRANT SELECT, UPDATE ON tracktik_oauth TO tracktik_worker_role;
        GRANT SELECT, INSERT, UPDATE ON tracktik_api_budget
            TO tracktik_worker_role;
        -- the portal's housekeeping (tracktik_portal_prune())
        GRANT SELECT, DELETE ON portal_sessions, portal_login_failures
            TO tracktik_worker_role;
    END IF;

    -- `tracktik-worker billing sync`
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_billing_role') THEN
        GRANT EXECUTE ON FUNCTION
            tracktik_api_take(text, double precision, double precision),
            tracktik_api_defer(text, double precision)
            TO tracktik_billing_role;
        -- pending lines are read and posted: the posting columns only
        GRANT SELECT ON billing_lines TO tracktik_billing_role;
        GRANT UPDATE (state, posted_at, external_id, last_error)
            ON billing_lines TO tracktik_billing_role;
        -- the post a line was reported at is in its ledger row's entity
        GRANT SELECT (id, raw) ON incidents_ledger TO tracktik_billing_role;
        GRANT SELECT, INSERT, UPDATE ON tracktik_billing_attempts
            TO tracktik_billing_role;
        GRANT SELECT, INSERT ON tracktik_bill_items TO tracktik_billing_role;
        GRANT SELECT ON tracktik_site_contracts TO tracktik_billing_role;
        GRANT SELECT, INSERT, UPDATE ON tracktik_positions
            TO tracktik_billing_role;
        GRANT SELECT, UPDATE ON tracktik_oauth TO tracktik_billing_role;
        GRANT SELECT, INSERT, UPDATE ON tracktik_api_budget
            TO tracktik_billing_role;
    END IF;

    -- the notification sender: what exists of what it reads so far
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_notify_role') THEN
        GRANT SELECT ON incidents_ledger, incidents_current,
            tracktik_accounts TO tracktik_notify_role;
    END IF;

    -- `tracktik-worker pull` and `schedule` (016): their checkpoints,
    -- runs and lease; the pages become jobs through tracktik_pull_page()
    -- (run as the owner, above), never by the worker's own INSERT
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        -- (tracktik_pull_windows went in 023: the cursor is in
        -- tracktik_pulls)
        GRANT SELECT, INSERT, UPDATE ON tracktik_pulls, tracktik_pull_lease
            TO tracktik_worker_role;
        GRANT DELETE ON tracktik_pull_lease TO tracktik_worker_role;
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I '
                       'TO tracktik_worker_role', current_schema());
    END IF;

    -- the ledger's hash chain (018): the insert trigger keeps its head
    -- as the owner; `audit --verify-chain` reads it
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT SELECT ON incidents_ledger_chain_head TO tracktik_worker_role;
    END IF;

    -- notifications (015): the ledger's trigger queues them as the
    -- inserting role (the worker); `run --notify` (worker) or `notify
    -- run` (tracktik_notify_role) claims and records them
    FOR r IN SELECT g.rolname, p.oid::regprocedure AS f
               FROM pg_roles g, pg_proc p
              WHERE g.rolname IN ('tracktik_worker_role',
                                  'tracktik_notify_role')
                AND p.pronamespace = current_schema()::regnamespace
                AND p.proname IN ('notify_enqueue', 'notify_claim',
                                  'notify_record', 'notify_digests_make')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.f, r.rolname);
    END LOOP;

    -- the scheduled audit (021): `schedule` compares the pulled window
    -- with the ledger (audit.sql, temporary tables) and keeps the result
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT SELECT, INSERT ON tracktik_audit_runs TO tracktik_worker_role;
        -- the pages its pull kept for it (024: written by
        -- tracktik_pull_page() as the owner), read and then deleted
        GRANT SELECT, DELETE ON tracktik_pull_seen TO tracktik_worker_role;
        GRANT SELECT ON incidents_ledger, billing_lines
            TO tracktik_worker_role;
    END IF;

    -- `tracktik-worker archive build` (019, portal_archive.sql): the
    -- queue, and what an archive reads (the client's view of incidents,
    -- billing lines and photos); the portal's archive routes run as the
    -- owner (portal_api_*, above)
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT SELECT, UPDATE ON tracktik_archives TO tracktik_worker_role;
        -- archive build --keep-days: the retention deletes old rows
        GRANT DELETE ON tracktik_archives TO tracktik_worker_role;
        GRANT SELECT ON portal_attachments_shown, incidents_hidden_files,
            portal_billing_open, tracktik_billing_attempts,
            tracktik_bill_items TO tracktik_worker_role;
    END IF;

    -- the functions of pull and schedule (016), the audit (021) and
    -- archive build (019), and what the latter two call
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        FOR r IN SELECT p.oid::regprocedure AS f
                   FROM pg_proc p
                  WHERE p.pronamespace = current_schema()::regnamespace
                    AND (p.proname LIKE 'tracktik\_pull\_%'
                         OR p.proname LIKE 'tracktik\_audit\_%'
                         OR p.proname LIKE 'tracktik\_archive\_%'
                         OR p.proname IN ('portal_csv',
                                          'tracktik_billing_view',
                                          'portal_site_name'))
        LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s '
                           'TO tracktik_worker_role', r.f);
        END LOOP;
    END IF;

    -- nginx's health check (webhook pool) and metrics scrape (portal
    -- pool), and the worker's start-up check read the schema version
    FOR r IN SELECT rolname FROM pg_roles
              WHERE rolname IN ('tracktik_ingest_role',
                                'tracktik_portal_role',
                                'tracktik_worker_role',
                                'tracktik_billing_role',
                                'tracktik_notify_role')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION tracktik_schema_version() '
                       'TO %I', r.rolname);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_portal_role') THEN
        GRANT EXECUTE ON FUNCTION tracktik_metrics_gauges()
            TO tracktik_portal_role;
    END IF;

    -- every worker command checks at start that the schema is at least
    -- the one it was built for (src/worker/schema.c)
    FOR r IN SELECT rolname FROM pg_roles
              WHERE rolname IN ('tracktik_worker_role',
                                'tracktik_billing_role',
                                'tracktik_notify_role')
    LOOP
        EXECUTE format('GRANT SELECT ON tracktik_schema_migrations TO %I',
                       r.rolname);
    END LOOP;
END
$$;
