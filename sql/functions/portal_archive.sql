-- portal_archive.sql: the auditor's archive (migrations/019_archives.sql,
-- doc/archive.md): what goes into it, the worker's queue, and the
-- portal's three entry points.
--
-- What a client may see, and only that, whoever asked (invariant 9): the
-- newest version of each report when it is APPROVED, of the client and
-- the requester's sites, with its visible fields only
-- (tracktik_visible_fields(): no confidential or admin-only field) and
-- the photos the portal would serve (portal_attachments_shown: none a
-- hidden field names).  The period is in UTC days, both ends included:
-- incidents by the time they occurred, billing lines by service date.

-- the archive's incidents, oldest first; chain_seq ties each row to the
-- ledger's hash chain (the manifest gives the range and the head)
CREATE OR REPLACE FUNCTION tracktik_archive_incidents(p_client bigint,
    p_sites bigint[], p_from date, p_to date)
RETURNS TABLE (report_id bigint, version integer, occurred_at text,
               site_id bigint, site text, category text, severity text,
               template text, billing text, fields text, photos bigint,
               ledger_id bigint, chain_seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT l.report_id, l.version,
           to_char(l.occurred_at AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           l.site_id, portal_site_name(l.raw, l.site_id), l.category,
           l.severity, l.report_template,
           (SELECT string_agg(b.bill_code || ' x ' || b.quantity, '; '
                              ORDER BY b.id)
              FROM portal_billing_open b
             WHERE b.report_id = l.report_id),
           (SELECT string_agg(v.label || ': ' || coalesce(v.value, ''), '; '
                              ORDER BY v.n)
              FROM tracktik_visible_fields(l.raw) v),
           (SELECT count(*) FROM portal_attachments_shown a
             WHERE a.report_id = l.report_id),
           l.id, l.chain_seq
      FROM incidents_ledger l
     WHERE l.client_id = p_client
       AND (p_sites IS NULL OR l.site_id = ANY (p_sites))
       AND l.occurred_at >= p_from::timestamp AT TIME ZONE 'UTC'
       AND l.occurred_at < (p_to + 1)::timestamp AT TIME ZONE 'UTC'
       AND l.status = 'APPROVED'
       AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                        WHERE n.report_id = l.report_id
                          AND n.version > l.version)
     ORDER BY l.occurred_at, l.report_id
$$;

-- the photos of those incidents the portal would serve; name: the path
-- inside the zip (digits and the stored extension only)
CREATE OR REPLACE FUNCTION tracktik_archive_photos(p_client bigint,
    p_sites bigint[], p_from date, p_to date)
RETURNS TABLE (id bigint, report_id bigint, name text, storage_key text)
LANGUAGE sql STABLE AS $$
    SELECT a.id, a.report_id,
           'photos/' || a.report_id || '/' || a.id
               || coalesce(substring(a.storage_key FROM '(\.[A-Za-z0-9]+)$'),
                           ''),
           a.storage_key
      FROM tracktik_archive_incidents(p_client, p_sites, p_from, p_to) i
      JOIN portal_attachments_shown a ON a.report_id = i.report_id
     ORDER BY a.report_id, a.id
$$;

-- the client's billing lines of the period (tracktik_billing_view():
-- the price and state billing staff see), in the requester's sites
CREATE OR REPLACE FUNCTION tracktik_archive_billing(p_client bigint,
    p_sites bigint[], p_from date, p_to date)
RETURNS TABLE (id bigint, service_date date, site_id bigint,
               report_id bigint, ledger_version integer, kind text,
               bill_code text, quantity numeric, unit_price numeric,
               amount numeric, state text)
LANGUAGE sql STABLE AS $$
    SELECT v.id, v.service_date, v.site_id, v.report_id, v.ledger_version,
           v.kind, v.bill_code, v.quantity, v.unit_price, v.amount, v.state
      FROM tracktik_billing_view(p_from, p_to, p_client, NULL, NULL, NULL) v
     WHERE p_sites IS NULL OR v.site_id = ANY (p_sites)
     ORDER BY v.service_date, v.id
$$;

-- their totals per bill code, then the grand total (bill_code NULL), as
-- tracktik_billing_view_totals() counts them
CREATE OR REPLACE FUNCTION tracktik_archive_billing_totals(p_client bigint,
    p_sites bigint[], p_from date, p_to date)
RETURNS TABLE (bill_code text, lines bigint, quantity numeric,
               amount numeric, unpriced bigint)
LANGUAGE sql STABLE AS $$
    SELECT b.bill_code, count(*), sum(b.quantity), coalesce(sum(b.amount), 0),
           count(*) FILTER (WHERE b.amount IS NULL)
      FROM tracktik_archive_billing(p_client, p_sites, p_from, p_to) b
     GROUP BY GROUPING SETS ((b.bill_code), ())
     ORDER BY grouping(b.bill_code), b.bill_code
$$;

-- the chain's head when the archive is built (in the build's snapshot),
-- and that moment
CREATE OR REPLACE FUNCTION tracktik_archive_chain_head()
RETURNS TABLE (seq bigint, row_hash text, generated_at text)
LANGUAGE sql STABLE AS $$
    SELECT h.seq, encode(h.row_hash, 'hex'),
           to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      FROM incidents_ledger_chain_head h
$$;


-- the worker's queue: the oldest queued request, or one whose worker
-- died while building it (running for an hour), claimed by one worker
CREATE OR REPLACE FUNCTION tracktik_archive_claim()
RETURNS SETOF tracktik_archives LANGUAGE sql AS $$
    UPDATE tracktik_archives a
       SET state = 'running', started_at = now(), attempts = a.attempts + 1
     WHERE a.id = (SELECT q.id FROM tracktik_archives q
                    WHERE q.state = 'queued'
                       OR (q.state = 'running'
                           AND q.started_at < now() - interval '1 hour')
                    ORDER BY q.id
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED)
    RETURNING a.*
$$;

CREATE OR REPLACE FUNCTION tracktik_archive_ready(p_id bigint,
    p_key text, p_sha256 text, p_size bigint, p_incidents bigint,
    p_photos bigint)
RETURNS void LANGUAGE sql AS $$
    UPDATE tracktik_archives
       SET state = 'ready', file_key = p_key, sha256 = p_sha256,
           size = p_size, incidents = p_incidents, photos = p_photos,
           error = NULL, finished_at = now()
     WHERE id = p_id
$$;

CREATE OR REPLACE FUNCTION tracktik_archive_failed(p_id bigint,
    p_error text)
RETURNS void LANGUAGE sql AS $$
    UPDATE tracktik_archives
       SET state = 'failed', error = left(p_error, 500), finished_at = now()
     WHERE id = p_id
$$;

-- the retention (archive build --keep-days N, doc/archive.md): up to 100
-- finished archives (ready or failed) that finished N days ago or more
-- leave the table, so the portal neither lists nor serves them (404);
-- their keys go back to the worker, which removes those files and no
-- other.  Pending requests are never pruned.  The rows go first: a
-- worker dying before it unlinks leaves a file no row names, never a row
-- naming a file that is gone.
CREATE OR REPLACE FUNCTION tracktik_archive_prune(p_keep_days integer)
RETURNS TABLE (id bigint, client_id bigint, period_from date,
               period_to date, file_key text)
LANGUAGE sql AS $$
    DELETE FROM tracktik_archives a
     WHERE a.id IN (SELECT o.id FROM tracktik_archives o
                     WHERE o.state IN ('ready', 'failed')
                       AND o.finished_at
                           <= now() - make_interval(days => p_keep_days)
                     ORDER BY o.id
                     LIMIT 100
                     FOR UPDATE SKIP LOCKED)
    RETURNING a.id, a.client_id, a.period_from, a.period_to, a.file_key
$$;


-- the portal ------------------------------------------------------------

-- an archive as the portal lists it; the error text (a path, a
-- database message) only to operators
CREATE OR REPLACE FUNCTION portal_archive_json(u portal_users,
    a tracktik_archives)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'client_id', a.client_id, 'sites', a.site_ids,
        'from', a.period_from, 'to', a.period_to, 'state', a.state,
        'requested_at', a.requested_at, 'finished_at', a.finished_at,
        'size', a.size, 'sha256', a.sha256, 'incidents', a.incidents,
        'photos', a.photos,
        'error', CASE WHEN a.state = 'failed'
                      THEN CASE WHEN u.role = 'operator' THEN a.error
                                ELSE 'the archive could not be built' END
                 END,
        'url', CASE WHEN a.state = 'ready'
                    THEN '/portal/api/archive/' || a.id END)
$$;

-- an operator sees every archive; a client user those of its client made
-- for the same scope (the same sites, or all of them)
CREATE OR REPLACE FUNCTION portal_archive_visible(u portal_users,
    a tracktik_archives)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT u.role = 'operator'
        OR (a.client_id = u.client_id
            AND a.site_ids IS NOT DISTINCT FROM u.site_ids)
$$;

-- POST /portal/api/archive?from=&to=[&client=]: queue an archive (202),
-- or answer with the identical one still pending
CREATE OR REPLACE FUNCTION portal_api_archive_request(p_token text,
    p_from text, p_to text, p_client text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u         portal_users := portal_session_user(p_token);
    v_from    date;
    v_to      date;
    v_client  bigint;
    a         tracktik_archives;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    IF coalesce(p_from, '') !~ '^\d{4}-\d{2}-\d{2}$'
       OR coalesce(p_to, '') !~ '^\d{4}-\d{2}-\d{2}$'
    THEN
        RETURN portal_reply(400, '{"error":"from= and to= are required, '
                                 'as YYYY-MM-DD"}', u.email, u.client_id,
                            NULL);
    END IF;

    v_from := p_from::date;
    v_to := p_to::date;

    IF v_to < v_from OR v_to - v_from >= 366 THEN
        RETURN portal_reply(400, '{"error":"the period must run forward '
                                 'and span at most 366 days"}', u.email,
                            u.client_id, NULL);
    END IF;

    IF coalesce(p_client, '') <> '' AND p_client !~ '^\d{1,18}$' THEN
        RETURN portal_reply(400, '{"error":"client= must be an id"}',
                            u.email, u.client_id, NULL);
    END IF;

    v_client := nullif(p_client, '')::bigint;

    IF u.role = 'client' THEN
        IF v_client IS NOT NULL AND v_client <> u.client_id THEN
            RETURN portal_reply(403, '{"error":"not your client"}', u.email,
                                u.client_id, NULL);
        END IF;
        v_client := u.client_id;

    ELSIF v_client IS NULL THEN
        RETURN portal_reply(400, '{"error":"client= is required"}', u.email,
                            u.client_id, NULL);
    END IF;

    -- a bound on what one user may keep the workers busy with
    IF (SELECT count(*) FROM tracktik_archives q
         WHERE q.requested_by = u.id AND q.state IN ('queued', 'running'))
       >= 10
    THEN
        RETURN portal_reply(429, '{"error":"ten archives are pending '
                                 'already"}', u.email, u.client_id, NULL);
    END IF;

    INSERT INTO tracktik_archives (client_id, site_ids, period_from,
                                   period_to, requested_by)
    VALUES (v_client, u.site_ids, v_from, v_to, u.id)
    ON CONFLICT (client_id, coalesce(site_ids, '{}'), period_from, period_to)
       WHERE state IN ('queued', 'running')
    DO NOTHING
    RETURNING * INTO a;

    IF a.id IS NULL THEN
        SELECT q.* INTO a
          FROM tracktik_archives q
         WHERE q.client_id = v_client
           AND coalesce(q.site_ids, '{}') = coalesce(u.site_ids, '{}')
           AND q.period_from = v_from AND q.period_to = v_to
           AND q.state IN ('queued', 'running');
    END IF;

    RETURN portal_reply(202, portal_archive_json(u, a)::text, u.email,
                        u.client_id, NULL);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_reply(400, '{"error":"invalid period"}', u.email,
                            u.client_id, NULL);
END
$$;

-- GET /portal/api/archives: the newest 100 the user may see
CREATE OR REPLACE FUNCTION portal_api_archives(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u  portal_users := portal_session_user(p_token);
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    RETURN portal_reply(200, json_build_object('items', coalesce((
               SELECT jsonb_agg(portal_archive_json(u, s.a)
                                ORDER BY (s.a).id DESC)
                 FROM (SELECT a FROM tracktik_archives a
                        WHERE portal_archive_visible(u, a)
                        ORDER BY a.id DESC
                        LIMIT 100) s),
               '[]'::jsonb))::text,
           u.email, u.client_id, NULL);
END
$$;

-- GET /portal/api/archive/ID: the file when ready (body: its download
-- name, next: its key in the attachment store, for nginx's internal
-- redirect), else 409 with its state; 404 for one the user may not see
CREATE OR REPLACE FUNCTION portal_api_archive(p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u  portal_users := portal_session_user(p_token);
    a  tracktik_archives;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    -- an id that is not a number finds nothing either
    SELECT x.* INTO a FROM tracktik_archives x
     WHERE p_id ~ '^[0-9]{1,18}$' AND x.id = p_id::bigint;

    IF a.id IS NULL OR NOT portal_archive_visible(u, a) THEN
        RETURN portal_reply(404, '{"error":"no such archive"}', u.email,
                            u.client_id, NULL);
    END IF;

    IF a.state <> 'ready' THEN
        RETURN portal_reply(409, portal_archive_json(u, a)::text, u.email,
                            u.client_id, NULL);
    END IF;

    RETURN portal_reply(200,
            format('tracktik-archive-%s-%s-%s.zip', a.client_id,
                   a.period_from, a.period_to),
            u.email, u.client_id, a.file_key);
END
$$;
