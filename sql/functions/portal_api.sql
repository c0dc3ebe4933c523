-- portal_api.sql: the portal API, one function per route (the nginx
-- module calls them with the session token from the cookie).

CREATE OR REPLACE FUNCTION portal_api_session(p_token text)
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

-- the sites a user may filter by: each (client, site) pair found by
-- stepping through the index below from one pair to the next (a loose
-- index scan), then the newest visible incident of each for its name.
-- The DISTINCT ON over every visible row it replaces read all of a
-- client's rows (120 ms to 1.5 s for 10,000 of them on 10 million) and,
-- for an operator, the whole ledger (110 s).
-- (the index: migrations/007_portal.sql)
CREATE OR REPLACE FUNCTION portal_api_sites(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u      portal_users := portal_session_user(p_token);
    v_lo   bigint;
    v_hi   bigint;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    -- the user's client, or every client: one range, one cached plan
    IF u.role = 'client' THEN
        v_lo := u.client_id;
        v_hi := u.client_id;
    ELSE
        v_lo := -9223372036854775808;
        v_hi := 9223372036854775807;
    END IF;

    RETURN portal_reply(200,
            json_build_object('items', coalesce((
                SELECT json_agg(json_build_object('id', s.site_id,
                                                  'name', v.name,
                                                  'client_id', s.client_id)
                                ORDER BY v.name, s.site_id)
                  FROM (WITH RECURSIVE s (client_id, site_id) AS (
                            (SELECT l.client_id, l.site_id
                               FROM incidents_ledger l
                              WHERE l.client_id BETWEEN v_lo AND v_hi
                                AND l.site_id IS NOT NULL
                              ORDER BY l.client_id, l.site_id
                              LIMIT 1)
                            UNION ALL
                            SELECT n.client_id, n.site_id
                              FROM s, LATERAL (
                                   SELECT l.client_id, l.site_id
                                     FROM incidents_ledger l
                                    WHERE l.client_id BETWEEN v_lo AND v_hi
                                      AND (l.client_id, l.site_id)
                                          > (s.client_id, s.site_id)
                                    ORDER BY l.client_id, l.site_id
                                    LIMIT 1) n)
                        SELECT * FROM s) s
                 CROSS JOIN LATERAL (
                       SELECT portal_site_name(l.raw, l.site_id) AS name
                         FROM incidents_ledger l
                        WHERE l.client_id = s.client_id
                          AND l.site_id = s.site_id
                          AND l.status = 'APPROVED'
                          AND (u.site_ids IS NULL
                               OR l.site_id = ANY (u.site_ids))
                          AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                                           WHERE n.report_id = l.report_id
                                             AND n.version > l.version)
                        ORDER BY l.occurred_at DESC
                        LIMIT 1) v),
                '[]'::json))::text,
            u.email, u.client_id, NULL);
END
$$;

CREATE OR REPLACE FUNCTION portal_api_incidents(p_token text, p_site text,
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
              FROM portal_attachments_shown a
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

-- one page of the CSV export; `next` continues it, NULL when done; the
-- the billing column joined once per row rather than in a sub-select
-- that kept portal_csv() from being inlined
CREATE OR REPLACE FUNCTION portal_api_incidents_csv(
    p_token text, p_site text, p_severity text, p_category text,
    p_from text, p_to text, p_q text, p_cursor text)
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
                   portal_csv(bl.billing))
               || E'\r\n', '' ORDER BY p.occurred_at DESC, p.report_id DESC),
           count(*),
           (array_agg(portal_cursor(p) ORDER BY p.occurred_at,
                                                p.report_id))[1]
      INTO v_body, v_n, v_next
      FROM portal_incidents_page(u, p_site, p_severity, p_category, p_from,
                                 p_to, p_q, p_cursor, v_page) p
     CROSS JOIN LATERAL (
            SELECT string_agg(b.bill_code || ' x ' || b.quantity, '; '
                              ORDER BY b.id) AS billing
              FROM portal_billing_open b
             WHERE b.report_id = p.report_id) bl;

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

CREATE OR REPLACE FUNCTION portal_api_incident(p_token text, p_id text)
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
            SELECT jsonb_agg(jsonb_build_object('label', v.label,
                                                'type', v.type,
                                                'value', v.value)
                             ORDER BY v.n)
              FROM tracktik_visible_fields(l.raw) v),
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
              FROM portal_attachments_shown a
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

-- the charts' counts, per local day and severity and per site, of the
-- reports whose newest version is APPROVED and occurred in [from, to):
-- at most 366 days, finite.  The whole UTC days of the range come from
-- incidents_daily (kept by a trigger on the ledger, migrations/010), the
-- part of a day at either end from the ledger itself: an operator's month
-- on 10 million rows went from 4.2 s to milliseconds.  Each site's name
-- is read from its newest incident in the range.  A report whose time
-- zone PostgreSQL does not know is counted on its UTC day.
CREATE OR REPLACE FUNCTION portal_api_stats(p_token text, p_from text,
                                            p_to text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u       portal_users := portal_session_user(p_token);
    v_from  timestamptz;
    v_to    timestamptz;
    v_d1    date;          -- the whole UTC days: [v_d1, v_d2)
    v_d2    date;
    v_e1    timestamptz;   -- the ledger's parts: [v_from, v_e1), [v_e2, v_to)
    v_e2    timestamptz;
    v_lo    bigint;
    v_hi    bigint;
    v_body  json;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    v_to := coalesce(nullif(p_to, '')::timestamptz, now());
    IF NOT isfinite(v_to) THEN
        RETURN portal_bad_filter(u, 'to must be a finite time');
    END IF;

    v_from := coalesce(nullif(p_from, '')::timestamptz,
                       v_to - interval '30 days');
    IF NOT isfinite(v_from) THEN
        RETURN portal_bad_filter(u, 'from must be a finite time');
    END IF;

    IF v_to - v_from > interval '366 days' THEN
        RETURN portal_bad_filter(u, 'from and to may be at most 366 days '
                                    || 'apart');
    END IF;

    v_d1 := (v_from AT TIME ZONE 'UTC')::date;
    IF v_d1::timestamp < v_from AT TIME ZONE 'UTC' THEN
        v_d1 := v_d1 + 1;
    END IF;
    v_d2 := (v_to AT TIME ZONE 'UTC')::date;

    IF v_d1 < v_d2 THEN
        v_e1 := v_d1::timestamp AT TIME ZONE 'UTC';
        v_e2 := v_d2::timestamp AT TIME ZONE 'UTC';
    ELSE
        v_e1 := v_to;
        v_e2 := v_to;
    END IF;

    -- the user's client, or every client: one range, one cached plan
    IF u.role = 'client' THEN
        v_lo := u.client_id;
        v_hi := u.client_id;
    ELSE
        v_lo := -9223372036854775808;
        v_hi := 9223372036854775807;
    END IF;

    WITH edge AS (
        SELECT l.occurred_at, l.time_zone, l.severity, l.client_id,
               l.site_id
          FROM incidents_ledger l
         WHERE ((l.occurred_at >= v_from AND l.occurred_at < v_e1)
                OR (l.occurred_at >= v_e2 AND l.occurred_at < v_to))
           AND l.client_id BETWEEN v_lo AND v_hi
           AND l.status = 'APPROVED'
           AND (u.site_ids IS NULL OR l.site_id = ANY (u.site_ids))
           AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                            WHERE n.report_id = l.report_id
                              AND n.version > l.version)),
    zones AS (
        SELECT z.time_zone, tracktik_time_zone(z.time_zone) AS zone
          FROM (SELECT DISTINCT e.time_zone FROM edge e) z),
    counts AS (
        SELECT (e.occurred_at AT TIME ZONE z.zone)::date AS day,
               e.severity, e.client_id, e.site_id, count(*) AS n
          FROM edge e
          JOIN zones z ON z.time_zone = e.time_zone
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT d.local_day, d.severity, d.client_id, d.site_id, d.n
          FROM incidents_daily d
         WHERE d.utc_day >= v_d1 AND d.utc_day < v_d2
           AND d.client_id BETWEEN v_lo AND v_hi
           AND (u.site_ids IS NULL OR d.site_id = ANY (u.site_ids))
           AND d.n > 0),
    -- the busiest sites, at most 100 (an operator's month spans thousands
    -- of sites: the answer stays bounded, and only these are named), and
    -- the rest summed into other_sites
    sites AS (
        SELECT client_id, site_id, n,
               row_number() OVER (ORDER BY n DESC, site_id) AS rank
          FROM (SELECT client_id, site_id, sum(n)::bigint AS n
                  FROM counts GROUP BY 1, 2) a)
    SELECT json_build_object(
        'from', v_from, 'to', v_to,
        'per_day', coalesce((
            SELECT json_agg(json_build_object('day', d.day,
                                              'severity', d.severity,
                                              'count', d.n)
                            ORDER BY d.day, d.severity)
              FROM (SELECT day, severity, sum(n)::bigint AS n
                      FROM counts GROUP BY 1, 2) d), '[]'::json),
        'other_sites', (
            SELECT json_build_object('sites', count(*),
                                     'count', coalesce(sum(o.n), 0))
              FROM sites o WHERE o.rank > 100),
        'per_site', coalesce((
            SELECT json_agg(json_build_object(
                       'site', json_build_object('id', s.site_id,
                                                 'name', v.name),
                       'count', s.n) ORDER BY s.rank)
              FROM sites s
             CROSS JOIN LATERAL (
                   SELECT portal_site_name(l.raw, l.site_id) AS name
                     FROM incidents_ledger l
                    WHERE l.client_id = s.client_id
                      AND l.site_id = s.site_id
                      AND l.occurred_at >= v_from AND l.occurred_at < v_to
                      AND l.status = 'APPROVED'
                    ORDER BY l.occurred_at DESC
                    LIMIT 1) v
             WHERE s.rank <= 100), '[]'::json))
      INTO v_body;

    RETURN portal_reply(200, v_body::text, u.email, u.client_id, NULL);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_bad_filter(u, SQLERRM);
END
$$;

-- live updates (GET events, a stream of polls: portal_stream.c).
-- p_after: '' to start from now; the id the client saw last (its
-- Last-Event-ID); or the `next` of the stream's previous poll: that id, a
-- dot, and the stream's place (portal_event_streams).  The ids are
-- portal_event_cursor()'s, never ledger ids; "0" or an id that is not one
-- resumes from the start of the window: the last 100,000 ledger rows and
-- the last 24 hours, whichever is shorter.  A message holds at most 500
-- incidents: 206 when it is full (the stream asks again at once), 200
-- when it has caught up.  A session has at most four streams open across
-- every nginx worker and host; a fifth gets 429, `next` holding the
-- seconds until a place lapses (Retry-After).  A place lasts a minute
-- unless its stream polls again, and no longer than the stream (ten
-- minutes, when the client reconnects).
CREATE OR REPLACE FUNCTION portal_api_events(p_token text, p_after text)
RETURNS portal_answer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    c_page     constant integer := 500;
    c_rows     constant bigint := 100000;
    c_hours    constant interval := '24 hours';
    c_streams  constant integer := 4;
    c_place    constant interval := '1 minute';
    c_life     constant interval := '10 minutes';
    v_session  text;
    v_cursor   text;
    v_stream   bigint;
    v_expires  timestamptz;
    v_max      bigint;
    v_after    bigint;
    v_items    jsonb;
    v_last     bigint;
    v_n        integer;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    IF coalesce(p_after, '') !~ '^([0-9]{1,18}(\.[0-9]{1,18})?)?$' THEN
        RAISE EXCEPTION 'bad event id' USING ERRCODE = '22023';
    END IF;

    v_cursor := split_part(coalesce(p_after, ''), '.', 1);
    v_stream := nullif(split_part(coalesce(p_after, ''), '.', 2), '')::bigint;
    v_session := encode(digest(p_token, 'sha256'), 'hex');

    -- the stream's place: kept (renewed at most every half minute), or
    -- taken when it has none or its place lapsed
    IF v_stream IS NOT NULL THEN
        SELECT s.expires_at INTO v_expires
          FROM portal_event_streams s
         WHERE s.id = v_stream AND s.session_id = v_session
           AND s.expires_at > now();

        IF v_expires IS NULL THEN
            v_stream := NULL;
        ELSIF v_expires < now() + c_place / 2 THEN
            UPDATE portal_event_streams s
               SET expires_at = least(now() + c_place, s.opened_at + c_life)
             WHERE s.id = v_stream;
        END IF;
    END IF;

    IF v_stream IS NULL THEN
        PERFORM pg_advisory_xact_lock(
                    hashtextextended('portal_event_streams ' || v_session, 0));

        DELETE FROM portal_event_streams s
         WHERE s.expires_at <= now()
           AND (s.session_id = v_session
                OR s.expires_at < now() - interval '1 hour');

        SELECT count(*), min(s.expires_at) INTO v_n, v_expires
          FROM portal_event_streams s
         WHERE s.session_id = v_session;

        IF v_n >= c_streams THEN
            RETURN portal_reply(429,
                '{"error":"too many event streams open for this session"}',
                u.email, u.client_id,
                greatest(1, ceil(extract(epoch FROM v_expires - now())))
                    ::bigint::text);
        END IF;

        INSERT INTO portal_event_streams (session_id, expires_at)
        VALUES (v_session, now() + c_place)
        RETURNING id INTO v_stream;
    END IF;

    SELECT coalesce(max(l.id), 0) INTO v_max FROM incidents_ledger l;

    IF v_cursor = '' THEN
        v_after := v_max;
    ELSE
        v_after := portal_event_cursor(u.id, v_cursor::bigint, true);
        IF v_cursor = '0' OR v_after IS NULL OR v_after > v_max THEN
            v_after := 0;
        END IF;
    END IF;

    v_after := greatest(v_after, v_max - c_rows);

    -- the items without their ledger ids, for the same reason as the ids
    SELECT jsonb_agg(portal_incident_json(p.l)::jsonb - 'ledger_id'
                     ORDER BY (p.l).id),
           max((p.l).id), count(*)
      INTO v_items, v_last, v_n
      FROM (SELECT l
              FROM incidents_ledger l
             WHERE l.id > v_after AND l.id <= v_max
               AND l.recorded_at > now() - c_hours
               AND portal_visible(u, l.status, l.client_id, l.site_id)
               AND (u.role = 'operator' OR l.client_id = u.client_id)
               AND portal_current(l.report_id, l.version)
             ORDER BY l.id
             LIMIT c_page) p;

    RETURN portal_reply(CASE WHEN v_n = c_page THEN 206 ELSE 200 END,
            coalesce(v_items, '[]'::jsonb)::text, u.email, u.client_id,
            portal_event_cursor(u.id, CASE WHEN v_n = c_page THEN v_last
                                           ELSE v_max END, false)::text
                || '.' || v_stream::text);
EXCEPTION
    WHEN data_exception THEN
        RETURN portal_reply(400, '{"error":"invalid event id"}', u.email,
                            u.client_id, NULL);
END
$$;

-- the storage key of a photo the user may see, for nginx's internal
-- redirect; the key never reaches the client, nor a photo of a hidden
-- field (portal_attachments_shown: migrations/009_search_hidden.sql)
CREATE OR REPLACE FUNCTION portal_api_attachment(p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u      portal_users := portal_session_user(p_token);
    a      portal_attachments;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    SELECT x.* INTO a
      FROM portal_attachments_shown x
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
