-- 020_portal: portal users, sessions, attachments and the portal API.
--
-- The nginx module answers /portal/api/ by calling one portal_api_*
-- function per request, passing the session token from the (signed)
-- cookie and the request's parameters.  Each function finds the user from
-- the session itself and scopes every row it reads to that user's client
-- (and sites), so no request parameter can widen what a user sees, and
-- only APPROVED reports and non-confidential fields ever leave the
-- database.  Every function returns one portal_answer: the HTTP status,
-- the body (JSON, or CSV for the export), the user's email and client for
-- nginx's $tracktik_user / $tracktik_client, and a continuation value
-- (the next CSV page, the session token after a login).
--
-- Passwords are bcrypt hashes made by pgcrypto; verifying one costs tens
-- of milliseconds, which is spent in a PostgreSQL backend, never in an
-- nginx worker.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE portal_users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('client', 'operator')),
    client_id      bigint,
    site_ids       bigint[],
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'client') = (client_id IS NOT NULL)),
    CHECK (role = 'client' OR site_ids IS NULL)
);

CREATE UNIQUE INDEX portal_users_email ON portal_users (lower(email));

CREATE TABLE portal_sessions (
    id          text PRIMARY KEY,           -- sha-256 hex of the token
    user_id     bigint NOT NULL REFERENCES portal_users,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    ip          text
);

CREATE INDEX portal_sessions_user ON portal_sessions (user_id);

CREATE TABLE portal_login_failures (
    at     timestamptz NOT NULL DEFAULT now(),
    email  text NOT NULL,
    ip     text NOT NULL
);

CREATE INDEX portal_login_failures_email
    ON portal_login_failures (lower(email), at);
CREATE INDEX portal_login_failures_ip ON portal_login_failures (ip, at);

-- report photos fetched by the worker, stored under the attachment store
CREATE TABLE portal_attachments (
    id            bigint PRIMARY KEY,       -- TrackTik file id
    report_id     bigint NOT NULL,
    name          text NOT NULL,
    content_type  text NOT NULL,
    storage_key   text NOT NULL UNIQUE
                  CHECK (storage_key ~ '^[A-Za-z0-9][A-Za-z0-9._/-]*$'
                         AND storage_key !~ '\.\.'),
    stored_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX portal_attachments_report ON portal_attachments (report_id);

-- the portal pages newest first within a client, and over all clients
-- (operators, exports by date): without the second, every operator page
-- sorts the whole ledger
CREATE INDEX incidents_ledger_client_page
    ON incidents_ledger (client_id, occurred_at DESC, report_id DESC);
CREATE INDEX incidents_ledger_page
    ON incidents_ledger (occurred_at DESC, report_id DESC);

CREATE TYPE portal_answer AS (
    status      integer,
    body        text,
    user_email  text,
    client_id   bigint,
    next        text
);


CREATE FUNCTION portal_reply(p_status integer, p_body text, p_user_email text,
                             p_client_id bigint, p_next text)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_status, p_body, p_user_email, p_client_id, p_next)::portal_answer
$$;


-- users (the CLI `tracktik-worker users ...` calls these)

CREATE FUNCTION portal_user_add(p_email text, p_password text, p_role text,
                                p_client_id bigint, p_site_ids bigint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF length(p_password) < 10 THEN
        RAISE EXCEPTION 'the password must be at least 10 characters long';
    END IF;

    INSERT INTO portal_users (email, password_hash, role, client_id,
                              site_ids)
    VALUES (p_email, crypt(p_password, gen_salt('bf', 10)), p_role,
            p_client_id, p_site_ids)
    RETURNING id INTO v_id;

    RETURN v_id;
END
$$;

CREATE FUNCTION portal_end_sessions(p_email text)
RETURNS void LANGUAGE sql AS $$
    UPDATE portal_sessions SET revoked_at = now()
     WHERE revoked_at IS NULL
       AND user_id = (SELECT id FROM portal_users
                       WHERE lower(email) = lower(p_email));
$$;

CREATE FUNCTION portal_user_passwd(p_email text, p_password text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF length(p_password) < 10 THEN
        RAISE EXCEPTION 'the password must be at least 10 characters long';
    END IF;

    UPDATE portal_users
       SET password_hash = crypt(p_password, gen_salt('bf', 10))
     WHERE lower(email) = lower(p_email);

    IF NOT FOUND THEN
        RAISE EXCEPTION 'no portal user %', p_email;
    END IF;

    -- a new password ends every open session
    PERFORM portal_end_sessions(p_email);
END
$$;

CREATE FUNCTION portal_user_disable(p_email text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE portal_users SET disabled = true
     WHERE lower(email) = lower(p_email);

    IF NOT FOUND THEN
        RAISE EXCEPTION 'no portal user %', p_email;
    END IF;

    PERFORM portal_end_sessions(p_email);
END
$$;


-- sessions

CREATE FUNCTION portal_session_user(p_token text)
RETURNS portal_users LANGUAGE sql STABLE AS $$
    SELECT u.*
      FROM portal_sessions s
      JOIN portal_users u ON u.id = s.user_id
     WHERE s.id = encode(digest(p_token, 'sha256'), 'hex')
       AND s.revoked_at IS NULL
       AND s.expires_at > now()
       AND NOT u.disabled
$$;

CREATE FUNCTION portal_bad_filter(u portal_users, p_message text)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT portal_reply(400, json_build_object('error', 'invalid filter: '
                                                        || p_message)::text,
                        u.email, u.client_id, NULL)
$$;

CREATE FUNCTION portal_unauthorized()
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT (401, '{"error":"not logged in"}', NULL, NULL, NULL)::portal_answer
$$;

CREATE FUNCTION portal_login(p_email text, p_password text, p_ip text,
                             p_ttl integer)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u        portal_users;
    v_token  text;
    -- a bcrypt hash of nothing: unknown users cost the same time
    v_dummy  constant text :=
        '$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Jj/PpaUPoOj1cdyq1ZUzlq7UkRvK';
BEGIN
    IF (SELECT count(*) FROM portal_login_failures
         WHERE lower(email) = lower(p_email)
           AND at > now() - interval '15 minutes') >= 5
       OR (SELECT count(*) FROM portal_login_failures
            WHERE ip = p_ip AND at > now() - interval '15 minutes') >= 30
    THEN
        RETURN portal_reply(429, '{"error":"too many failed logins, try again later"}',
                NULL, NULL, NULL);
    END IF;

    -- one password check at a time, cluster-wide: bcrypt is ~70 ms of
    -- CPU, and a storm of logins must not starve webhook acknowledgements
    -- of the cores; waiting logins hold only portal connections
    PERFORM pg_advisory_xact_lock(hashtext('portal_login'));

    SELECT * INTO u FROM portal_users
     WHERE lower(email) = lower(p_email) AND NOT disabled;

    IF u.id IS NULL
       OR crypt(p_password, u.password_hash) <> u.password_hash
    THEN
        IF u.id IS NULL THEN
            PERFORM crypt(p_password, v_dummy);
        END IF;

        INSERT INTO portal_login_failures (email, ip)
        VALUES (left(p_email, 320), p_ip);

        RETURN portal_reply(401, '{"error":"invalid email or password"}',
                NULL, NULL, NULL);
    END IF;

    v_token := encode(gen_random_bytes(32), 'hex');

    INSERT INTO portal_sessions (id, user_id, expires_at, ip)
    VALUES (encode(digest(v_token, 'sha256'), 'hex'), u.id,
            now() + make_interval(secs => p_ttl), p_ip);

    DELETE FROM portal_login_failures WHERE lower(email) = lower(u.email);

    RETURN portal_reply(200, portal_me_json(u)::text, u.email, u.client_id, v_token);
END
$$;

CREATE FUNCTION portal_logout(p_token text)
RETURNS portal_answer LANGUAGE sql AS $$
    UPDATE portal_sessions SET revoked_at = now()
     WHERE id = encode(digest(p_token, 'sha256'), 'hex')
       AND revoked_at IS NULL;
    SELECT (200, '{"status":"logged out"}', NULL, NULL, NULL)::portal_answer;
$$;


-- what a user may see

CREATE FUNCTION portal_site_name(p_raw jsonb, p_site_id bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(CASE WHEN jsonb_typeof(p_raw->'account') = 'object'
                         THEN p_raw#>>'{account,name}' END,
                    'Site ' || p_site_id)
$$;

CREATE FUNCTION portal_visible(u portal_users, p_status text,
                               p_client_id bigint, p_site_id bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status = 'APPROVED'
       AND (u.role = 'operator' OR p_client_id = u.client_id)
       AND (u.site_ids IS NULL OR p_site_id = ANY (u.site_ids))
$$;

-- the newest version of its report (the ledger keeps every version)
CREATE FUNCTION portal_current(p_report_id bigint, p_version integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM incidents_ledger n
                        WHERE n.report_id = p_report_id
                          AND n.version > p_version)
$$;

CREATE FUNCTION portal_me_json(u portal_users)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'email', u.email,
        'role', u.role,
        'client', CASE WHEN u.client_id IS NULL THEN NULL
                       ELSE json_build_object('id', u.client_id) END,
        'sites', u.site_ids)
$$;

-- charges that no credit line has taken back
CREATE VIEW portal_billing_open AS
SELECT b.*
  FROM billing_lines b
 WHERE b.kind = 'charge'
   AND NOT EXISTS (SELECT 1 FROM billing_lines c
                    WHERE c.credits_line_id = b.id);

-- an incident as the list shows it; billing and photos come from the
-- caller, so a page can join them instead of one sub-select per row
-- (a SQL function without sub-selects is inlined into the page query)
CREATE FUNCTION portal_incident_item(l incidents_ledger, p_billing json,
                                     p_photos bigint)
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

CREATE FUNCTION portal_incident_billing(p_report_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('code', b.bill_code,
                                               'quantity', b.quantity,
                                               'unit_price', b.unit_price)
                             ORDER BY b.id), '[]')
      FROM portal_billing_open b
     WHERE b.report_id = p_report_id
$$;

CREATE FUNCTION portal_incident_json(l incidents_ledger)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT portal_incident_item(l, portal_incident_billing(l.report_id),
                                (SELECT count(*) FROM portal_attachments a
                                  WHERE a.report_id = l.report_id))
$$;

-- the filtered, scoped page of incidents shared by the JSON list and CSV
CREATE FUNCTION portal_incidents_page(u portal_users, p_site text,
                                      p_severity text, p_category text,
                                      p_from text, p_to text, p_q text,
                                      p_cursor text, p_limit integer)
RETURNS SETOF incidents_ledger LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_site      bigint := nullif(p_site, '')::bigint;
    v_from      timestamptz := nullif(p_from, '')::timestamptz;
    v_to        timestamptz := nullif(p_to, '')::timestamptz;
    v_after_ts  timestamptz;
    v_after_id  bigint;
BEGIN
    IF coalesce(p_cursor, '') <> '' THEN
        IF p_cursor !~ '^-?[0-9]{1,20}\.[0-9]{1,20}$' THEN
            RAISE EXCEPTION 'bad cursor' USING ERRCODE = '22023';
        END IF;
        v_after_ts := to_timestamp(split_part(p_cursor, '.', 1)::bigint
                                   / 1000000.0);
        v_after_id := split_part(p_cursor, '.', 2)::bigint;
    END IF;

    RETURN QUERY
    SELECT l.*
      FROM incidents_ledger l
     WHERE NOT EXISTS (SELECT 1 FROM incidents_ledger n
                        WHERE n.report_id = l.report_id
                          AND n.version > l.version)
       AND portal_visible(u, l.status, l.client_id, l.site_id)
       AND (u.role = 'operator' OR l.client_id = u.client_id)
       AND (v_site IS NULL OR l.site_id = v_site)
       AND (nullif(p_severity, '') IS NULL
            OR l.severity = upper(p_severity))
       AND (nullif(p_category, '') IS NULL OR l.category = p_category)
       AND (v_from IS NULL OR l.occurred_at >= v_from)
       AND (v_to IS NULL OR l.occurred_at < v_to)
       AND (nullif(p_q, '') IS NULL
            OR l.raw::text ILIKE '%' || replace(replace(replace(p_q,
                   '\', '\\'), '%', '\%'), '_', '\_') || '%')
       AND (v_after_ts IS NULL
            OR (l.occurred_at, l.report_id) < (v_after_ts, v_after_id))
     ORDER BY l.occurred_at DESC, l.report_id DESC
     LIMIT p_limit;
END
$$;

CREATE FUNCTION portal_cursor(l incidents_ledger)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM l.occurred_at) * 1000000)::bigint::text
           || '.' || l.report_id
$$;


-- the API, one function per route

CREATE FUNCTION portal_api_session(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u portal_users := portal_session_user(p_token);
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;
    RETURN portal_reply(200, portal_me_json(u)::text, u.email, u.client_id, NULL);
END
$$;

CREATE FUNCTION portal_api_sites(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u portal_users := portal_session_user(p_token);
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    RETURN portal_reply(200,
            json_build_object('items', coalesce((
                SELECT json_agg(json_build_object('id', s.site_id,
                                                  'name', s.name,
                                                  'client_id', s.client_id)
                                ORDER BY s.name, s.site_id)
                  FROM (SELECT DISTINCT ON (l.site_id)
                               l.site_id, l.client_id,
                               portal_site_name(l.raw, l.site_id) AS name
                          FROM incidents_ledger l
                         WHERE portal_current(l.report_id, l.version)
                           AND portal_visible(u, l.status, l.client_id, l.site_id)
                           AND (u.role = 'operator'
                                OR l.client_id = u.client_id)
                         ORDER BY l.site_id, l.occurred_at DESC) s),
                '[]'::json))::text,
            u.email, u.client_id, NULL);
END
$$;

CREATE FUNCTION portal_api_incidents(p_token text, p_site text,
                                     p_severity text, p_category text,
                                     p_from text, p_to text, p_q text,
                                     p_cursor text, p_limit text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u        portal_users := portal_session_user(p_token);
    v_limit  integer;
    v_items  json;
    v_next   text;
    v_n      integer;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    v_limit := coalesce(nullif(p_limit, '')::integer, 50);
    IF v_limit < 1 OR v_limit > 500 THEN
        RAISE EXCEPTION 'bad limit' USING ERRCODE = '22023';
    END IF;

    SELECT json_agg(portal_incident_item(p, bl.billing, ph.photos)
                    ORDER BY p.occurred_at DESC, p.report_id DESC),
           count(*),
           (array_agg(portal_cursor(p) ORDER BY p.occurred_at,
                                                p.report_id))[1]
      INTO v_items, v_n, v_next
      FROM portal_incidents_page(u, p_site, p_severity, p_category, p_from,
                                 p_to, p_q, p_cursor, v_limit) p
     CROSS JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_object(
                       'code', b.bill_code,
                       'quantity', b.quantity,
                       'unit_price', b.unit_price) ORDER BY b.id),
                       '[]') AS billing
              FROM portal_billing_open b
             WHERE b.report_id = p.report_id) bl
     CROSS JOIN LATERAL (
            SELECT count(*) AS photos
              FROM portal_attachments a
             WHERE a.report_id = p.report_id) ph;

    RETURN portal_reply(200,
            json_build_object('items', coalesce(v_items, '[]'::json),
                              'next', CASE WHEN v_n = v_limit
                                           THEN v_next END)
                ::text,
            u.email, u.client_id, NULL);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_bad_filter(u, SQLERRM);
END
$$;

CREATE FUNCTION portal_csv(p_value text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN ''
                WHEN p_value ~ '[",\r\n]' OR p_value ~ '^\s|\s$'
                THEN '"' || replace(p_value, '"', '""') || '"'
                ELSE p_value END
$$;

-- one page of the CSV export; `next` continues it, NULL when done
CREATE FUNCTION portal_api_incidents_csv(p_token text, p_site text,
                                         p_severity text, p_category text,
                                         p_from text, p_to text, p_q text,
                                         p_cursor text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u        portal_users := portal_session_user(p_token);
    v_page   constant integer := 1000;
    v_body   text;
    v_n      integer;
    v_next   text;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    SELECT string_agg(
               concat_ws(',',
                   p.report_id::text,
                   p.version::text,
                   portal_csv(to_char(p.occurred_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
                   portal_csv(p.site_id::text),
                   portal_csv(portal_site_name(p.raw, p.site_id)),
                   portal_csv(p.category),
                   portal_csv(p.severity),
                   portal_csv(p.report_template),
                   portal_csv((SELECT string_agg(b.bill_code || ' x '
                                                 || b.quantity, '; '
                                                 ORDER BY b.id)
                                 FROM portal_billing_open b
                                WHERE b.report_id = p.report_id)))
               || E'\r\n', '' ORDER BY p.occurred_at DESC, p.report_id DESC),
           count(*),
           (array_agg(portal_cursor(p) ORDER BY p.occurred_at,
                                                p.report_id))[1]
      INTO v_body, v_n, v_next
      FROM portal_incidents_page(u, p_site, p_severity, p_category, p_from,
                                 p_to, p_q, p_cursor, v_page) p;

    IF v_n < v_page THEN
        v_next := NULL;
    END IF;

    IF coalesce(p_cursor, '') = '' THEN
        v_body := 'id,version,occurred_at,site_id,site,category,severity,'
                  || E'template,billing\r\n' || coalesce(v_body, '');
    END IF;

    RETURN portal_reply(200, coalesce(v_body, ''), u.email, u.client_id, v_next);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_bad_filter(u, SQLERRM);
END
$$;

CREATE FUNCTION portal_api_incident(p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u       portal_users := portal_session_user(p_token);
    l       incidents_ledger;
    v_body  json;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    SELECT c.* INTO l
      FROM incidents_ledger c
     WHERE c.report_id = p_id::bigint
       AND portal_current(c.report_id, c.version)
       AND portal_visible(u, c.status, c.client_id, c.site_id);

    IF l.id IS NULL THEN
        RETURN portal_reply(404, '{"error":"no such incident"}', u.email, u.client_id,
                NULL);
    END IF;

    SELECT (portal_incident_json(l)::jsonb || jsonb_build_object(
        'status', l.status,
        'fields', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'label', coalesce(f#>>'{templateField,label}',
                                         f#>>'{field,label}', f->>'label',
                                         f->>'name'),
                       'type', coalesce(f#>>'{templateField,type}',
                                        f#>>'{field,type}', f->>'type'),
                       'value', coalesce(f->>'valueLabel', f->>'value'))
                       ORDER BY n)
              FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(l.raw->'reportFields') = 'array'
                            THEN l.raw->'reportFields'
                            ELSE '[]'::jsonb END)
                   WITH ORDINALITY AS x(f, n)
             WHERE jsonb_typeof(f) = 'object'
               AND coalesce(f->>'confidential', '') <> 'true'
               AND coalesce(f->>'adminOnly', '') <> 'true'
               AND coalesce(f#>>'{templateField,confidential}', '') <> 'true'
               AND coalesce(f#>>'{templateField,adminOnly}', '') <> 'true'
               AND coalesce(f#>>'{field,confidential}', '') <> 'true'
               AND coalesce(f#>>'{field,adminOnly}', '') <> 'true'
               AND coalesce(f#>>'{templateField,type}', f#>>'{field,type}',
                            f->>'type', '') <> 'PICTURE'),
            '[]'::jsonb),
        'versions', (
            SELECT jsonb_agg(jsonb_build_object('version', v.version,
                                                'recorded_at', v.recorded_at,
                                                'updated_on', v.updated_on)
                             ORDER BY v.version)
              FROM incidents_ledger v
             WHERE v.report_id = l.report_id
               AND portal_visible(u, v.status, v.client_id, v.site_id)),
        'attachments', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', a.id, 'name', a.name,
                       'content_type', a.content_type,
                       'url', '/portal/api/attachments/' || a.id)
                       ORDER BY a.id)
              FROM portal_attachments a
             WHERE a.report_id = l.report_id),
            '[]'::jsonb)))::json
      INTO v_body;

    RETURN portal_reply(200, v_body::text, u.email, u.client_id, NULL);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_reply(404, '{"error":"no such incident"}', u.email, u.client_id,
                NULL);
END
$$;

CREATE FUNCTION portal_api_stats(p_token text, p_from text, p_to text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u       portal_users := portal_session_user(p_token);
    v_from  timestamptz;
    v_to    timestamptz;
    v_body  json;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    v_to := coalesce(nullif(p_to, '')::timestamptz, now());
    v_from := coalesce(nullif(p_from, '')::timestamptz,
                       v_to - interval '30 days');

    -- one scan of the window, counted both ways
    WITH counts AS (
        SELECT (l.occurred_at AT TIME ZONE l.time_zone)::date AS day,
               l.severity, l.site_id,
               max(portal_site_name(l.raw, l.site_id)) AS name,
               count(*) AS n
          FROM incidents_ledger l
         WHERE portal_current(l.report_id, l.version)
           AND portal_visible(u, l.status, l.client_id, l.site_id)
           AND (u.role = 'operator' OR l.client_id = u.client_id)
           AND l.occurred_at >= v_from AND l.occurred_at < v_to
         GROUP BY 1, 2, 3)
    SELECT json_build_object(
        'from', v_from, 'to', v_to,
        'per_day', coalesce((
            SELECT json_agg(json_build_object('day', d.day,
                                              'severity', d.severity,
                                              'count', d.n)
                            ORDER BY d.day, d.severity)
              FROM (SELECT day, severity, sum(n)::bigint AS n
                      FROM counts GROUP BY 1, 2) d), '[]'::json),
        'per_site', coalesce((
            SELECT json_agg(json_build_object(
                       'site', json_build_object('id', s.site_id,
                                                 'name', s.name),
                       'count', s.n) ORDER BY s.n DESC, s.site_id)
              FROM (SELECT site_id, max(name) AS name, sum(n)::bigint AS n
                      FROM counts GROUP BY site_id) s), '[]'::json))
      INTO v_body;

    RETURN portal_reply(200, v_body::text, u.email, u.client_id, NULL);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_bad_filter(u, SQLERRM);
END
$$;

-- incidents recorded after a ledger row id, for live updates
CREATE FUNCTION portal_api_events(p_token text, p_after text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u        portal_users := portal_session_user(p_token);
    v_after  bigint;
    v_items  json;
    v_last   bigint;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    IF coalesce(p_after, '') = '' THEN
        SELECT coalesce(max(id), 0) INTO v_last FROM incidents_ledger;
        RETURN portal_reply(200, '[]', u.email, u.client_id, v_last::text);
    END IF;

    v_after := p_after::bigint;

    SELECT json_agg(portal_incident_json(l) ORDER BY l.id), max(l.id)
      INTO v_items, v_last
      FROM incidents_ledger l
     WHERE l.id > v_after
       AND portal_visible(u, l.status, l.client_id, l.site_id)
       AND (u.role = 'operator' OR l.client_id = u.client_id)
       AND portal_current(l.report_id, l.version);

    RETURN portal_reply(200, coalesce(v_items, '[]'::json)::text, u.email, u.client_id,
            greatest(coalesce(v_last, v_after),
                     (SELECT coalesce(max(id), v_after)
                        FROM incidents_ledger
                       WHERE id > v_after))::text);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_reply(400, '{"error":"invalid event id"}', u.email, u.client_id,
                NULL);
END
$$;

-- the storage key of a photo the user may see, for nginx's internal
-- redirect; the key never reaches the client
CREATE FUNCTION portal_api_attachment(p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u      portal_users := portal_session_user(p_token);
    a      portal_attachments;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    SELECT x.* INTO a
      FROM portal_attachments x
     WHERE x.id = p_id::bigint
       AND EXISTS (SELECT 1 FROM incidents_ledger c
                    WHERE c.report_id = x.report_id
                      AND portal_current(c.report_id, c.version)
                      AND portal_visible(u, c.status, c.client_id, c.site_id));

    IF a.id IS NULL THEN
        RETURN portal_reply(404, '{"error":"no such attachment"}', u.email,
                u.client_id, NULL);
    END IF;

    RETURN portal_reply(200, a.content_type, u.email, u.client_id, a.storage_key);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_reply(404, '{"error":"no such attachment"}', u.email,
                u.client_id, NULL);
END
$$;
