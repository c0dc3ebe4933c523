-- Changes to sql/020_portal.sql proposed by the portal benchmark, for
-- bench/portal-bench.sh (PROPOSE=1) to measure side by side with the
-- schema as it is.  Nothing here touches the portal's own objects: the
-- changed functions go into the schema portal_bench_proposal, which only
-- sessions with search_path = portal_bench_proposal, public see (the
-- bench's second nginx and pgbench), and the new index is dropped again
-- by the bench.  The changed functions are made from the current
-- definitions by replacing one fragment each, so they follow later edits
-- of 020_portal.sql; when a fragment is no longer there this fails.
--
-- 1. An index for pages over all clients (operators, the CSV export with
--    a date filter): without it every page sorts the whole ledger.
--
--        CREATE INDEX incidents_ledger_page
--            ON incidents_ledger (occurred_at DESC, report_id DESC);
--
-- 2. portal_incidents_page: the "newest version" test written in the
--    query instead of calling portal_current() per row (a SQL function
--    with a sub-select is not inlined: every row pays a function call).
--
-- 3. portal_api_incidents: the items' JSON built in the query, billing
--    lines and photo counts from LATERAL sub-queries, instead of one call
--    of portal_incident_json() per row (not inlined either, for the same
--    reason; it is most of the cost of a page).  The JSON is the same.
--
-- 4. portal_login: one password check at a time, cluster-wide (a
--    transaction-scoped advisory lock taken before crypt()).  bcrypt at
--    cost 10 is ~70 ms of CPU; eight logins at once fill both cores of
--    this machine and every webhook ack waits for CPU, though the pools
--    are separate.  Waiting logins hold portal connections only.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP SCHEMA IF EXISTS portal_bench_proposal CASCADE;
CREATE SCHEMA portal_bench_proposal;

CREATE FUNCTION portal_bench_proposal.swap(p_proc regprocedure,
                                           p_from text, p_to text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d text := pg_get_functiondef(p_proc);
BEGIN
    IF position(p_from IN d) = 0 THEN
        RAISE EXCEPTION 'proposal: % no longer contains: %', p_proc, p_from;
    END IF;
    d := replace(d, p_from, p_to);
    d := replace(d, 'FUNCTION public.', 'FUNCTION portal_bench_proposal.');
    EXECUTE d;
END
$$;

-- 2.
SELECT portal_bench_proposal.swap(
    'public.portal_incidents_page(portal_users, text, text, text, text, text,
                                  text, text, integer)',
    'portal_current(l.report_id, l.version)',
    'NOT EXISTS (SELECT 1 FROM incidents_ledger n
                  WHERE n.report_id = l.report_id
                    AND n.version > l.version)');

-- 3.
CREATE FUNCTION portal_bench_proposal.portal_incident_item(
    l incidents_ledger, p_billing json, p_photos bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', l.report_id,
        'version', l.version,
        'ledger_id', l.id,
        'occurred_at', l.occurred_at,
        'time_zone', l.time_zone,
        'client_id', l.client_id,
        'site', json_build_object('id', l.site_id,
                                  'name', portal_site_name(l.raw, l.site_id)),
        'post', CASE WHEN jsonb_typeof(l.raw->'position') = 'object'
                     THEN json_build_object('id', l.raw#>'{position,id}',
                                            'name', l.raw#>>'{position,name}')
                     WHEN jsonb_typeof(l.raw->'position') = 'number'
                     THEN json_build_object('id', l.raw->'position')
                END,
        'category', l.category,
        'severity', l.severity,
        'template', l.report_template,
        'billing', p_billing,
        'photos', p_photos)
$$;

CREATE FUNCTION portal_bench_proposal.swap2(p_proc regprocedure,
                                            p_from1 text, p_to1 text,
                                            p_from2 text, p_to2 text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d text := pg_get_functiondef(p_proc);
BEGIN
    IF position(p_from1 IN d) = 0 OR position(p_from2 IN d) = 0 THEN
        RAISE EXCEPTION 'proposal: % has changed', p_proc;
    END IF;
    d := replace(replace(d, p_from1, p_to1), p_from2, p_to2);
    d := replace(d, 'FUNCTION public.', 'FUNCTION portal_bench_proposal.');
    EXECUTE d;
END
$$;

SELECT portal_bench_proposal.swap2(
    'public.portal_api_incidents(text, text, text, text, text, text, text,
                                 text, text)',
    'json_agg(portal_incident_json(p) ORDER BY',
    'json_agg(portal_incident_item(p, bl.billing, ph.photos) ORDER BY',
    'p_to, p_q, p_cursor, v_limit) p;',
    'p_to, p_q, p_cursor, v_limit) p
       CROSS JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_object(
                       ''code'', b.bill_code,
                       ''quantity'', b.quantity,
                       ''unit_price'', b.unit_price) ORDER BY b.id),
                       ''[]'') AS billing
              FROM portal_billing_open b
             WHERE b.report_id = p.report_id) bl
       CROSS JOIN LATERAL (
            SELECT count(*) AS photos
              FROM portal_attachments a
             WHERE a.report_id = p.report_id) ph;');

-- 4.
SELECT portal_bench_proposal.swap(
    'public.portal_login(text, text, text, integer)',
    '    SELECT * INTO u FROM portal_users',
    '    PERFORM pg_advisory_xact_lock(hashtext(''portal_login''));

    SELECT * INTO u FROM portal_users');

DROP FUNCTION portal_bench_proposal.swap(regprocedure, text, text);
DROP FUNCTION portal_bench_proposal.swap2(regprocedure, text, text, text, text);
