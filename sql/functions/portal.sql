-- portal.sql: what every portal API function shares: the answer, the
-- session lookup, what a user may see, and the page of incidents.
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
-- Written for speed: a SQL function that is not inlined runs through the
-- SQL-function executor, which plans its statement again on every call, and
-- a plpgsql statement full of "x IS NULL OR ..." conditions is planned again
-- on every call too (its generic plan would scan the ledger).  The helpers
-- below are therefore written to be inlined (explicit ::text casts keep them
-- immutable), the session lookup and the "newest version" test are plpgsql
-- (their plans are cached per connection), and a page is one of two
-- statements, a client's and an operator's, with infinities for absent
-- bounds, each with one cached plan that walks its index.  A page of 50
-- incidents costs about half of what it did on 10 million ledger rows.

CREATE OR REPLACE FUNCTION portal_reply(
    p_status integer, p_body text, p_user_email text, p_client_id bigint,
    p_next text)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_status, p_body, p_user_email, p_client_id, p_next)::portal_answer
$$;

-- plpgsql, not sql: a SQL function returning a row is not inlined, and
-- its statement would be planned again on every request
CREATE OR REPLACE FUNCTION portal_session_user(p_token text)
RETURNS portal_users LANGUAGE plpgsql STABLE AS $$
DECLARE
    u portal_users;
BEGIN
    SELECT p.* INTO u
      FROM portal_sessions s
      JOIN portal_users p ON p.id = s.user_id
     WHERE s.id = encode(digest(p_token, 'sha256'), 'hex')
       AND s.revoked_at IS NULL
       AND s.expires_at > now()
       AND NOT p.disabled;
    RETURN u;
END
$$;

CREATE OR REPLACE FUNCTION portal_bad_filter(u portal_users, p_message text)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT portal_reply(400, json_build_object('error', 'invalid filter: '
                                                        || p_message)::text,
                        u.email, u.client_id, NULL)
$$;

CREATE OR REPLACE FUNCTION portal_unauthorized()
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT (401, '{"error":"not logged in"}', NULL, NULL, NULL)::portal_answer
$$;

CREATE OR REPLACE FUNCTION portal_site_name(p_raw jsonb, p_site_id bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(CASE WHEN jsonb_typeof(p_raw->'account') = 'object'
                         THEN p_raw#>>'{account,name}' END,
                    'Site ' || p_site_id::text)
$$;

CREATE OR REPLACE FUNCTION portal_visible(u portal_users, p_status text,
                               p_client_id bigint, p_site_id bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status = 'APPROVED'
       AND (u.role = 'operator' OR p_client_id = u.client_id)
       AND (u.site_ids IS NULL OR p_site_id = ANY (u.site_ids))
$$;

-- the newest version of its report (the ledger keeps every version)
-- (plpgsql: a SQL function with a sub-select is never inlined, and would
-- plan it again for every row it is called on)
CREATE OR REPLACE FUNCTION portal_current(p_report_id bigint,
                                          p_version integer)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT EXISTS (SELECT 1 FROM incidents_ledger n
                        WHERE n.report_id = p_report_id
                          AND n.version > p_version);
END
$$;

CREATE OR REPLACE FUNCTION portal_me_json(u portal_users)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'email', u.email,
        'role', u.role,
        'client', CASE WHEN u.client_id IS NULL THEN NULL
                       ELSE json_build_object('id', u.client_id) END,
        'sites', u.site_ids)
$$;

-- an incident as the list shows it; billing and photos come from the
-- caller, so a page can join them instead of one sub-select per row
-- (a SQL function without sub-selects is inlined into the page query)
CREATE OR REPLACE FUNCTION portal_incident_item(
    l incidents_ledger, p_billing json, p_photos bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', l.report_id,
        'version', l.version,
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

CREATE OR REPLACE FUNCTION portal_incident_billing(p_report_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('code', b.bill_code,
                                               'quantity', b.quantity,
                                               'unit_price', b.unit_price)
                             ORDER BY b.id), '[]')
      FROM portal_billing_open b
     WHERE b.report_id = p_report_id
$$;

CREATE OR REPLACE FUNCTION portal_incident_json(l incidents_ledger)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT portal_incident_item(l, portal_incident_billing(l.report_id),
                                (SELECT count(*) FROM portal_attachments_shown a
                                  WHERE a.report_id = l.report_id))
$$;

-- (the free-text search is not here: it reads incidents_search, see
-- portal_incidents_page())
CREATE OR REPLACE FUNCTION portal_page_filter(l incidents_ledger, p_site bigint,
                                   p_severity text, p_category text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT l.status = 'APPROVED'
       AND (p_site IS NULL OR l.site_id = p_site)
       AND (p_severity IS NULL OR l.severity = p_severity)
       AND (p_category IS NULL OR l.category = p_category)
$$;

-- the filtered, scoped page of incidents shared by the JSON list and CSV.
-- Absent bounds become infinities rather than "IS NULL OR" conditions,
-- and a client's scope and an operator's are two statements, so that each
-- keeps one cached plan that walks its index (client, time) or (time).
CREATE OR REPLACE FUNCTION portal_incidents_page(
    u portal_users, p_site text, p_severity text, p_category text,
    p_from text, p_to text, p_q text, p_cursor text, p_limit integer)
RETURNS SETOF incidents_ledger LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_site      bigint := nullif(p_site, '')::bigint;
    v_severity  text := upper(nullif(p_severity, ''));
    v_category  text := nullif(p_category, '');
    v_from      timestamptz := coalesce(nullif(p_from, '')::timestamptz,
                                        '-infinity');
    v_to        timestamptz := coalesce(nullif(p_to, '')::timestamptz,
                                        'infinity');
    v_like      text;
    v_after_ts  timestamptz := 'infinity';
    v_after_id  bigint := 9223372036854775807;
BEGIN
    IF coalesce(p_cursor, '') <> '' THEN
        IF p_cursor !~ '^-?[0-9]{1,20}\.[0-9]{1,20}$' THEN
            RAISE EXCEPTION 'bad cursor' USING ERRCODE = '22023';
        END IF;
        v_after_ts := to_timestamp(split_part(p_cursor, '.', 1)::bigint
                                   / 1000000.0);
        v_after_id := split_part(p_cursor, '.', 2)::bigint;
    END IF;

    IF nullif(p_q, '') IS NOT NULL THEN
        v_like := '%' || replace(replace(replace(p_q, '\', '\\'),
                                         '%', '\%'), '_', '\_') || '%';
    END IF;

    IF v_like IS NOT NULL THEN
        -- q= matches only what the user may see of an incident, its
        -- search text (incidents_search, written with each version),
        -- never the raw entity.  Planned for each pattern (EXECUTE).  A
        -- pattern with three letters or digits in a row has a trigram:
        -- the index finds a rare one among the client's rows (a common
        -- one the planner may find faster by walking the page's index).
        -- A shorter one has none, and the index would read every row of
        -- every client: a client's is checked row by row while the
        -- client's page index is walked (an operator's reads them all).
        RETURN QUERY EXECUTE
            'SELECT l.* FROM incidents_ledger l '
            || CASE WHEN u.role <> 'client'
                    THEN 'JOIN incidents_search s ON s.ledger_id = l.id'
                    WHEN p_q ~ '[[:alnum:]]{3}'
                    THEN 'JOIN incidents_search s ON s.ledger_id = l.id
                                                 AND s.client_id = $9'
                    ELSE 'JOIN LATERAL (SELECT x.doc FROM incidents_search x
                                         WHERE x.ledger_id = l.id
                                        OFFSET 0) s ON true' END
            || ' WHERE s.doc ILIKE $1
                 AND l.occurred_at >= $2 AND l.occurred_at < $3
                 AND (l.occurred_at, l.report_id) < ($4, $5)
                 AND portal_page_filter(l, $6, $7, $8)
                 AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                                  WHERE n.report_id = l.report_id
                                    AND n.version > l.version)'
            || CASE WHEN u.role = 'client'
                    THEN ' AND l.client_id = $9
                           AND ($10::bigint[] IS NULL
                                OR l.site_id = ANY ($10))'
                    ELSE '' END
            || ' ORDER BY l.occurred_at DESC, l.report_id DESC LIMIT $11'
            USING v_like, v_from, v_to, v_after_ts, v_after_id, v_site,
                  v_severity, v_category, u.client_id, u.site_ids, p_limit;

    ELSIF u.role = 'client' THEN
        RETURN QUERY
        SELECT l.*
          FROM incidents_ledger l
         WHERE l.client_id = u.client_id
           AND (u.site_ids IS NULL OR l.site_id = ANY (u.site_ids))
           AND l.occurred_at >= v_from AND l.occurred_at < v_to
           AND (l.occurred_at, l.report_id) < (v_after_ts, v_after_id)
           AND portal_page_filter(l, v_site, v_severity, v_category)
           AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                            WHERE n.report_id = l.report_id
                              AND n.version > l.version)
         ORDER BY l.occurred_at DESC, l.report_id DESC
         LIMIT p_limit;
    ELSE
        RETURN QUERY
        SELECT l.*
          FROM incidents_ledger l
         WHERE l.occurred_at >= v_from AND l.occurred_at < v_to
           AND (l.occurred_at, l.report_id) < (v_after_ts, v_after_id)
           AND portal_page_filter(l, v_site, v_severity, v_category)
           AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                            WHERE n.report_id = l.report_id
                              AND n.version > l.version)
         ORDER BY l.occurred_at DESC, l.report_id DESC
         LIMIT p_limit;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION portal_cursor(l incidents_ledger)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT (extract(epoch FROM l.occurred_at) * 1000000)::bigint::text
           || '.' || l.report_id::text
$$;

-- one CSV cell (RFC 4180).  A cell a spreadsheet would take for a
-- formula (it begins with = + - @, a tab or a carriage return, also after
-- spaces) gets a leading single quote, OWASP's rule against CSV
-- injection, and is quoted; a plain negative number stays a number
CREATE OR REPLACE FUNCTION portal_csv(p_value text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN ''
                WHEN p_value ~ '^([\t\r]|\s*[-=+@])'
                     AND p_value !~ '^-[0-9]+(\.[0-9]+)?$'
                THEN '"''' || replace(p_value, '"', '""') || '"'
                WHEN p_value ~ '[",\r\n]' OR p_value ~ '^\s|\s$'
                THEN '"' || replace(p_value, '"', '""') || '"'
                ELSE p_value END
$$;

-- a ledger id as a user's event stream shows it, and back (p_decode): a
-- keyed permutation of 0 .. 2^58 - 1, so at most 18 digits, made of four
-- Feistel rounds over 29-bit halves with HMAC-SHA-256 as the round
-- function, keyed per user (portal_event_key, migrations/010).  Ids one
-- user sees tell nothing of how many rows were recorded in between (other
-- clients' volume), and mean nothing on another user's stream.  NULL for
-- a value outside the range.
CREATE OR REPLACE FUNCTION portal_event_cursor(p_user bigint, p_value bigint,
                                               p_decode boolean)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    k     bytea;
    h     bytea;
    l     bigint;
    r     bigint;
    f     bigint;
    half  constant bigint := 536870911;        -- 2^29 - 1
BEGIN
    IF p_value IS NULL OR p_value < 0 OR p_value > 288230376151711743 THEN
        RETURN NULL;
    END IF;

    SELECT hmac(int8send(p_user), e.key, 'sha256') INTO k
      FROM portal_event_key e;

    l := p_value >> 29;
    r := p_value & half;

    FOR i IN 0 .. 3 LOOP
        -- encoding runs rounds 0..3 on r; decoding undoes 3..0 on l
        h := hmac(int4send(CASE WHEN p_decode THEN 3 - i ELSE i END)
                  || int8send(CASE WHEN p_decode THEN l ELSE r END),
                  k, 'sha256');
        f := ((get_byte(h, 0)::bigint << 24) | (get_byte(h, 1) << 16)
              | (get_byte(h, 2) << 8) | get_byte(h, 3)) & half;

        IF p_decode THEN
            f := r # f;
            r := l;
            l := f;
        ELSE
            f := l # f;
            l := r;
            r := f;
        END IF;
    END LOOP;

    RETURN (l << 29) | r;
END
$$;
