-- notify.sql: stakeholder notifications (migrations/015_notify.sql).
--
-- Rules are matched here, by the ledger's insert trigger, so that every
-- way a version reaches the ledger (webhook jobs, pulls, imports) queues
-- its notifications in its own transaction.  The semantics are those of
-- contract rules (src/worker/rules.c): names compare case-insensitively,
-- a time window runs in the report's zone, and the early-morning part of
-- a window across midnight belongs to the weekday the night began.


-- a match value as a list: a single value stands for a one-element list
CREATE OR REPLACE FUNCTION notify_list(p_value jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_value IS NULL OR p_value = 'null' THEN NULL
                WHEN jsonb_typeof(p_value) = 'array' THEN p_value
                ELSE jsonb_build_array(p_value) END
$$;

-- the ids of a match list (NULL: the key was absent, any matches)
CREATE OR REPLACE FUNCTION notify_ids(p_value jsonb)
RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN notify_list(p_value) IS NOT NULL THEN
           ARRAY(SELECT (e #>> '{}')::bigint
                   FROM jsonb_array_elements(notify_list(p_value)) e
                  WHERE jsonb_typeof(e) = 'number') END
$$;

-- the names of a match list, lower case (compared case-insensitively)
CREATE OR REPLACE FUNCTION notify_names(p_value jsonb)
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN notify_list(p_value) IS NOT NULL THEN
           ARRAY(SELECT lower(e #>> '{}')
                   FROM jsonb_array_elements(notify_list(p_value)) e
                  WHERE jsonb_typeof(e) = 'string') END
$$;

-- "HH:MM" as minutes after midnight
CREATE OR REPLACE FUNCTION notify_minutes(p_hhmm text)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT split_part(p_hhmm, ':', 1)::integer * 60
           + split_part(p_hhmm, ':', 2)::integer
$$;

-- the time window and weekdays of a rule at a local time.  Across
-- midnight (from > to), the part before "to" counts for the day before.
CREATE OR REPLACE FUNCTION notify_when_matches(p_from integer,
    p_to integer, p_weekdays integer, p_local timestamp)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from IS NULL
            OR (p_from < p_to AND x.m >= p_from AND x.m < p_to)
            OR (p_from > p_to AND (x.m >= p_from OR x.m < p_to)))
       AND (p_weekdays = 0
            OR p_weekdays & (1 << CASE WHEN p_from > p_to AND x.m < p_to
                                       THEN (x.dow + 6) % 7
                                       ELSE x.dow END) <> 0)
      FROM (SELECT (extract(hour FROM p_local) * 60
                    + extract(minute FROM p_local))::integer AS m,
                   extract(dow FROM p_local)::integer AS dow) x
$$;

CREATE OR REPLACE FUNCTION notify_rank(p_severity text)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.rank FROM notify_severities s
                      WHERE s.severity = upper(p_severity)), 0)
$$;

CREATE OR REPLACE FUNCTION notify_rule_matches(r notify_rules,
                                               l incidents_ledger)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (r.client_ids IS NULL OR l.client_id = ANY (r.client_ids))
       AND (r.site_ids IS NULL OR l.site_id = ANY (r.site_ids))
       AND ((r.template_ids IS NULL AND r.template_names IS NULL)
            OR l.report_template_id = ANY (r.template_ids)
            OR lower(l.report_template) = ANY (r.template_names))
       AND ((r.category_ids IS NULL AND r.category_names IS NULL)
            OR l.category_id = ANY (r.category_ids)
            OR lower(l.category) = ANY (r.category_names))
       AND (r.severities IS NULL OR lower(l.severity) = ANY (r.severities))
       AND (r.min_severity IS NULL
            OR notify_rank(l.severity) >= notify_rank(r.min_severity))
       AND (r.statuses IS NULL OR lower(l.status) = ANY (r.statuses))
       AND notify_when_matches(r.window_from, r.window_to, r.weekdays,
               l.occurred_at AT TIME ZONE tracktik_time_zone(l.time_zone))
$$;

-- the rules in force: the newest file version, and every subscription,
-- but for those switched off
CREATE OR REPLACE FUNCTION notify_rules_in_force()
RETURNS SETOF notify_rules LANGUAGE sql STABLE AS $$
    SELECT r.*
      FROM notify_rules r
     WHERE (r.rule_set_version = (SELECT max(s.version)
                                    FROM notify_rule_sets s)
            OR r.owner_user_id IS NOT NULL)
       -- switched off by an operator, or deleted by its owner (020)
       AND r.disabled_at IS NULL
       AND r.deleted_at IS NULL
$$;


-- The recipient row of a portal user (made on first use).  NULL for an
-- address no mail can go to (portal_users accepts more than a mail
-- header may hold): that user is not told, and the ledger insert this
-- runs in goes on.
CREATE OR REPLACE FUNCTION notify_portal_recipient(u portal_users)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
BEGIN
    SELECT r.id INTO v_id FROM notify_recipients r
     WHERE r.kind = 'portal_user' AND r.address = lower(u.email)
       AND r.portal_user_id = u.id;

    IF v_id IS NOT NULL THEN
        RETURN v_id;
    END IF;

    INSERT INTO notify_recipients (kind, address, name, portal_user_id)
    VALUES ('portal_user', lower(u.email), u.email, u.id)
    ON CONFLICT (kind, address) DO UPDATE SET portal_user_id = u.id
    RETURNING id INTO v_id;
    RETURN v_id;
EXCEPTION
    WHEN check_violation THEN
        RETURN NULL;
END
$$;


-- Stores a validated rule file (`notify rules load`, src/worker/notify.c)
-- as a new version.  p_secrets: {recipient name: ["whsec_...", ...]},
-- read by the worker from each webhook's secret_file; they replace the
-- endpoint's stored secrets.  Returns the version.
CREATE OR REPLACE FUNCTION notify_rules_load(p_document jsonb,
    p_file text, p_secrets jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_version  integer;
    v_rule     bigint;
    v_rec      bigint;
    r          record;
    t          record;
BEGIN
    INSERT INTO notify_rule_sets (name, source_file, document)
    VALUES (coalesce(p_document->>'name', ''), p_file, p_document)
    RETURNING version INTO v_version;

    FOR r IN SELECT e.value AS rule, e.ordinality - 1 AS position
               FROM jsonb_array_elements(p_document->'rules')
                    WITH ORDINALITY e
    LOOP
        INSERT INTO notify_rules (rule_set_version, rule_key, position,
            client_ids, site_ids, template_ids, template_names,
            category_ids, category_names, severities, min_severity,
            statuses, window_from, window_to, weekdays, mode, digest_at,
            digest_weekday, definition)
        SELECT v_version, r.rule->>'id', r.position,
               notify_ids(m->'client'), notify_ids(m->'site'),
               notify_ids(m->'report_template'),
               notify_names(m->'report_template'),
               notify_ids(m->'category'), notify_names(m->'category'),
               notify_names(m->'severity'),
               upper(r.rule->>'min_severity'),
               -- reports a client cannot see are not announced unless
               -- the rule asks ("status": "any" or a list)
               CASE WHEN m ? 'status' AND lower(m->>'status') = 'any'
                    THEN NULL
                    WHEN m ? 'status' THEN notify_names(m->'status')
                    ELSE ARRAY['approved'] END,
               notify_minutes(m#>>'{time_of_day,from}') % 1440,
               notify_minutes(m#>>'{time_of_day,to}'),
               coalesce((SELECT sum(DISTINCT 1 << d.n)::integer
                           FROM jsonb_array_elements_text(m->'weekdays') w,
                                (VALUES ('sun', 0), ('mon', 1), ('tue', 2),
                                        ('wed', 3), ('thu', 4), ('fri', 5),
                                        ('sat', 6)) d(day, n)
                          WHERE lower(left(w, 3)) = d.day), 0),
               coalesce(r.rule->>'mode', 'immediate'),
               (r.rule->>'digest_at')::time,
               (SELECT d.n FROM (VALUES ('sun', 0), ('mon', 1), ('tue', 2),
                                        ('wed', 3), ('thu', 4), ('fri', 5),
                                        ('sat', 6)) d(day, n)
                 WHERE d.day = lower(left(r.rule->>'digest_weekday', 3))),
               r.rule
          FROM (SELECT coalesce(r.rule->'match', '{}') AS m) mm(m)
        RETURNING id INTO v_rule;

        FOR t IN SELECT n.value AS name,
                        p_document->'recipients'->n.value AS def
                   FROM jsonb_array_elements_text(
                            notify_list(r.rule->'notify')) n
        LOOP
            IF t.def ? 'portal_role' THEN
                INSERT INTO notify_rule_targets (rule_id, portal_role,
                                                 portal_sites)
                VALUES (v_rule, t.def->>'portal_role',
                        notify_ids(t.def->'sites'));
                CONTINUE;
            END IF;

            INSERT INTO notify_recipients AS c (kind, address, name,
                                                time_zone)
            VALUES (CASE WHEN t.def ? 'webhook' THEN 'webhook'
                         ELSE 'email' END,
                    CASE WHEN t.def ? 'webhook' THEN t.def->>'webhook'
                         ELSE lower(t.def->>'email') END,
                    t.name, coalesce(t.def->>'time_zone', 'UTC'))
            ON CONFLICT (kind, address) DO UPDATE
               SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone
            RETURNING id INTO v_rec;

            INSERT INTO notify_rule_targets (rule_id, recipient_id)
            VALUES (v_rule, v_rec);

            IF t.def ? 'webhook' THEN
                DELETE FROM notify_webhook_secrets s
                 WHERE s.recipient_id = v_rec;
                INSERT INTO notify_webhook_secrets (recipient_id, position,
                                                    secret)
                SELECT v_rec, w.ordinality, w.value
                  FROM jsonb_array_elements_text(p_secrets->t.name)
                       WITH ORDINALITY w;
            END IF;
        END LOOP;
    END LOOP;

    RETURN v_version;
END
$$;


-- The outbox: called by the ledger's insert trigger with the ids of the
-- rows one statement added.  Per rule and recipient, a report is
-- announced once as 'new' (its first matching version), and again as
-- 'severity_raised:<LEVEL>' by a version whose severity ranks above all
-- announced before; anything else queues nothing.  Versions are taken in
-- order, so that several versions of one report in one batch count as
-- they would one by one.
CREATE OR REPLACE FUNCTION notify_enqueue(p_ledger_ids bigint[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    c        record;
    v_top    integer;
    v_seen   boolean;
    v_ann    text;
    v_added  integer;
    v_n      integer := 0;
BEGIN
    IF p_ledger_ids IS NULL
       OR NOT EXISTS (SELECT 1 FROM notify_rules_in_force())
    THEN
        RETURN 0;
    END IF;

    FOR c IN
        WITH added AS (
            SELECT l.* FROM incidents_ledger l
             WHERE l.id = ANY (p_ledger_ids)
        ), matched AS (
            SELECT a.id AS ledger_id, a.report_id, a.version, a.severity,
                   a.status, a.client_id, a.site_id, r.id AS rule_id,
                   r.rule_key, r.mode, r.owner_user_id
              FROM added a
              JOIN notify_rules_in_force() r ON notify_rule_matches(r, a)
        ), targets AS (
            SELECT m.*, t.recipient_id, r.kind
              FROM matched m
              JOIN notify_rule_targets t ON t.rule_id = m.rule_id
              JOIN notify_recipients r ON r.id = t.recipient_id
             WHERE m.owner_user_id IS NULL
            UNION ALL
            -- a portal user hears only of what the portal shows them.
            -- (A recipient row made here is not visible to this
            -- statement's snapshot: its kind is not read back.)
            SELECT m.*, notify_portal_recipient(u), 'portal_user'
              FROM matched m
              JOIN notify_rule_targets t ON t.rule_id = m.rule_id
              JOIN portal_users u ON u.role = t.portal_role
                                 AND NOT u.disabled
             WHERE m.owner_user_id IS NULL
               AND portal_visible(u, m.status, m.client_id, m.site_id)
               AND (t.portal_sites IS NULL
                    OR m.site_id = ANY (t.portal_sites))
            UNION ALL
            -- a subscription tells its owner and nobody else (targets of
            -- its own are ignored), and only of what the portal shows
            -- them: whatever its stored match says, another client's
            -- incident never reaches a client user
            SELECT m.*, notify_portal_recipient(u), 'portal_user'
              FROM matched m
              JOIN portal_users u ON u.id = m.owner_user_id
                                 AND NOT u.disabled
             WHERE portal_visible(u, m.status, m.client_id, m.site_id)
        )
        SELECT g.*
          FROM targets g
         WHERE g.recipient_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM notify_unsubscribes u
                            WHERE u.rule_key = g.rule_key
                              AND u.recipient_id = g.recipient_id)
         ORDER BY g.report_id, g.version, g.rule_key, g.recipient_id
    LOOP
        SELECT max(n.severity_rank), count(*) > 0 INTO v_top, v_seen
          FROM notifications n
         WHERE n.rule_key = c.rule_key
           AND n.recipient_id = c.recipient_id
           AND n.report_id = c.report_id;

        IF NOT v_seen THEN
            v_ann := 'new';
        ELSIF notify_rank(c.severity) > coalesce(v_top, 0) THEN
            v_ann := 'severity_raised:' || upper(c.severity);
        ELSE
            CONTINUE;
        END IF;

        INSERT INTO notifications (rule_key, recipient_id, report_id,
            announce, rule_id, ledger_id, severity_rank, channel, mode,
            state)
        VALUES (c.rule_key, c.recipient_id, c.report_id, v_ann, c.rule_id,
                c.ledger_id, notify_rank(c.severity),
                CASE WHEN c.kind = 'webhook' THEN 'webhook' ELSE 'email' END,
                c.mode,
                CASE WHEN c.mode = 'immediate' THEN 'pending'
                     ELSE 'digest' END)
        ON CONFLICT (rule_key, recipient_id, report_id, announce)
        DO NOTHING;

        GET DIAGNOSTICS v_added = ROW_COUNT;
        v_n := v_n + v_added;
    END LOOP;

    RETURN v_n;
END
$$;


-- the signed token of an unsubscribe link: notification id, HMAC-SHA256
CREATE OR REPLACE FUNCTION notify_unsubscribe_token(p_id bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p_id::text || '.'
           || encode(hmac(convert_to(p_id::text, 'UTF8'), s.unsubscribe_key,
                         'sha256'), 'hex')
      FROM notify_settings s
$$;

-- one click, no login: a valid token pauses that rule for that
-- recipient.  false for a token that is not valid.
CREATE OR REPLACE FUNCTION notify_unsubscribe(p_token text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
    n     notifications;
BEGIN
    IF p_token !~ '^[0-9]{1,18}\.[0-9a-f]{64}$' THEN
        RETURN false;
    END IF;

    v_id := split_part(p_token, '.', 1)::bigint;

    IF notify_unsubscribe_token(v_id) <> p_token THEN
        RETURN false;
    END IF;

    SELECT * INTO n FROM notifications WHERE id = v_id;
    IF n.id IS NULL THEN
        RETURN false;
    END IF;

    INSERT INTO notify_unsubscribes (rule_key, recipient_id)
    VALUES (n.rule_key, n.recipient_id)
    ON CONFLICT DO NOTHING;

    RETURN true;
END
$$;


-- Claims up to p_limit due notifications (SKIP LOCKED: any number of
-- senders share the queue) for p_lease seconds, and returns what sending
-- them needs.  The incident is the portal's item JSON and the fields a
-- client sees (tracktik_visible_fields()): never a confidential or
-- adminOnly field.  A lease that runs out (its sender died) makes the
-- notification due again.
CREATE OR REPLACE FUNCTION notify_claim(p_limit integer, p_lease integer)
RETURNS TABLE (id bigint, channel text, address text, announce text,
               report_id bigint, attempts integer, item jsonb,
               secrets text[], unsubscribe text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT n.id
          FROM notifications n
          JOIN notify_recipients r ON r.id = n.recipient_id
         WHERE ((n.state = 'pending' AND n.next_attempt_at <= now())
                OR (n.state = 'sending' AND n.lease_until < now()))
           AND r.paused_at IS NULL
         ORDER BY n.next_attempt_at
         LIMIT p_limit
           FOR UPDATE OF n SKIP LOCKED
    ), claimed AS (
        UPDATE notifications n
           SET state = 'sending', attempts = n.attempts + 1,
               lease_until = now() + make_interval(secs => p_lease)
          FROM due
         WHERE n.id = due.id
        RETURNING n.*
    )
    SELECT c.id, c.channel, r.address, c.announce, c.report_id, c.attempts,
           CASE WHEN c.ledger_id IS NULL
                THEN notify_digest_json(c.id, r.time_zone)
                ELSE portal_incident_json(l)::jsonb || jsonb_build_object(
               'status', l.status,
               'fields', coalesce((
                   SELECT jsonb_agg(jsonb_build_object('label', v.label,
                                                       'type', v.type,
                                                       'value', v.value)
                                    ORDER BY v.n)
                     FROM tracktik_visible_fields(l.raw) v), '[]')) END,
           ARRAY(SELECT s.secret FROM notify_webhook_secrets s
                  WHERE s.recipient_id = r.id
                  ORDER BY s.position),
           notify_unsubscribe_token(c.id)
      FROM claimed c
      JOIN notify_recipients r ON r.id = c.recipient_id
      LEFT JOIN incidents_ledger l ON l.id = c.ledger_id
     ORDER BY c.id;
END
$$;


-- Records one attempt and decides what comes next: sent; or due again
-- after an exponential backoff (p_base * 2^(attempt-1) seconds, at most
-- p_cap, times a jitter of 0.5..1); or dead after p_max attempts.  A
-- recipient whose last p_pause_after attempts all failed is paused with
-- the reason.  Returns the new state.
CREATE OR REPLACE FUNCTION notify_record(p_id bigint, p_ok boolean,
    p_status text, p_detail text, p_duration_ms integer, p_max integer,
    p_base double precision, p_cap double precision,
    p_pause_after integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n        notifications;
    v_state  text;
    v_fails  integer;
BEGIN
    SELECT * INTO n FROM notifications WHERE id = p_id FOR UPDATE;
    IF n.id IS NULL THEN
        RETURN NULL;
    END IF;

    INSERT INTO notify_attempts (notification_id, channel, ok, status,
                                 detail, duration_ms)
    VALUES (p_id, n.channel, p_ok, p_status, left(p_detail, 500),
            p_duration_ms);

    IF p_ok THEN
        UPDATE notifications
           SET state = 'sent', sent_at = now(), lease_until = NULL,
               last_error = NULL
         WHERE id = p_id;
        UPDATE notify_recipients SET failures = 0
         WHERE id = n.recipient_id AND failures <> 0;
        RETURN 'sent';
    END IF;

    v_state := CASE WHEN n.attempts >= p_max THEN 'dead' ELSE 'pending' END;

    UPDATE notifications
       SET state = v_state, lease_until = NULL,
           last_error = left(p_status || ' ' || p_detail, 500),
           next_attempt_at = now() + make_interval(secs =>
               least(p_cap, p_base * 2 ^ greatest(n.attempts - 1, 0))
               * (0.5 + random() / 2))
     WHERE id = p_id;

    UPDATE notify_recipients
       SET failures = failures + 1
     WHERE id = n.recipient_id
    RETURNING failures INTO v_fails;

    IF v_fails >= p_pause_after THEN
        UPDATE notify_recipients
           SET paused_at = now(),
               paused_reason = format('%s deliveries in a row failed; the '
                   'last: %s %s', v_fails, p_status, left(p_detail, 200))
         WHERE id = n.recipient_id AND paused_at IS NULL;
    END IF;

    RETURN v_state;
END
$$;


-- a dead notification is due again, with its attempts afresh
CREATE OR REPLACE FUNCTION notify_replay(p_id bigint)
RETURNS boolean LANGUAGE sql AS $$
    WITH r AS (
        UPDATE notifications
           SET state = 'pending', attempts = 0, next_attempt_at = now(),
               last_error = NULL
         WHERE id = p_id AND state = 'dead'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM r)
$$;

-- a paused recipient (email address or webhook URL) is sent to again
CREATE OR REPLACE FUNCTION notify_resume(p_address text)
RETURNS boolean LANGUAGE sql AS $$
    WITH r AS (
        UPDATE notify_recipients
           SET paused_at = NULL, paused_reason = NULL, failures = 0
         WHERE address = p_address OR address = lower(p_address)
        RETURNING id
    ), due AS (
        UPDATE notifications n SET next_attempt_at = now()
          FROM r
         WHERE n.recipient_id = r.id AND n.state = 'pending'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM r) AND (SELECT count(*) >= 0 FROM due)
$$;


-- Digests.  The end of a digest period: the latest local digest_at (on
-- the weekday, for a weekly one) at or before p_now in the recipient's
-- zone.  Local times are turned into instants by the zone's rules for
-- that day, so 08:00 stays 08:00 across a DST change.
CREATE OR REPLACE FUNCTION notify_digest_cut(p_now timestamptz,
    p_zone text, p_at time, p_weekday integer)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT max(c.at)
      FROM (SELECT (d.day::date + p_at) AT TIME ZONE p_zone AS at
              FROM generate_series((p_now AT TIME ZONE p_zone)::date - 7,
                                   (p_now AT TIME ZONE p_zone)::date,
                                   interval '1 day') AS d(day)
             WHERE p_weekday IS NULL
                OR extract(dow FROM d.day)::integer = p_weekday) c
     WHERE c.at <= p_now
$$;

-- Makes the digests due at p_now (the clock; `notify run --now` sets it
-- for tests): per recipient and digest rule, one digest row carrying the
-- notifications that waited since before the end of its period.  A
-- period's digest is made once (its key); what came later waits for the
-- next.  Returns the digests made.
CREATE OR REPLACE FUNCTION notify_digests_make(p_now timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    g      record;
    v_cut  timestamptz;
    v_id   bigint;
    v_n    integer := 0;
BEGIN
    FOR g IN
        SELECT n.recipient_id, n.rule_key, max(n.rule_id) AS rule_id,
               tracktik_time_zone(r.time_zone) AS zone,
               max(n.channel) AS channel
          FROM notifications n
          JOIN notify_recipients r ON r.id = n.recipient_id
         WHERE n.state = 'digest'
         GROUP BY n.recipient_id, n.rule_key, r.time_zone
         ORDER BY n.recipient_id, n.rule_key
    LOOP
        SELECT notify_digest_cut(p_now, g.zone, rl.digest_at,
                   CASE WHEN rl.mode = 'weekly' THEN rl.digest_weekday END)
          INTO v_cut
          FROM notify_rules rl
         WHERE rl.id = g.rule_id;

        CONTINUE WHEN v_cut IS NULL;

        INSERT INTO notifications (rule_key, recipient_id, report_id,
            announce, rule_id, channel, mode, state)
        SELECT g.rule_key, g.recipient_id, 0,
               'digest:' || to_char(v_cut AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI"Z"'),
               g.rule_id, g.channel, 'digest', 'pending'
         WHERE EXISTS (SELECT 1 FROM notifications n
                        WHERE n.recipient_id = g.recipient_id
                          AND n.rule_key = g.rule_key
                          AND n.state = 'digest'
                          AND n.created_at <= v_cut)
        ON CONFLICT (rule_key, recipient_id, report_id, announce)
        DO NOTHING
        RETURNING id INTO v_id;

        CONTINUE WHEN v_id IS NULL;

        UPDATE notifications n
           SET state = 'digested', digest_id = v_id
         WHERE n.recipient_id = g.recipient_id
           AND n.rule_key = g.rule_key
           AND n.state = 'digest'
           AND n.created_at <= v_cut;

        v_n := v_n + 1;
        v_id := NULL;
    END LOOP;

    RETURN v_n;
END
$$;

-- what a digest says: counts per site and severity, and the incidents
-- (the portal's items: nothing a client could not see), oldest first
CREATE OR REPLACE FUNCTION notify_digest_json(p_digest bigint, p_zone text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone  text := tracktik_time_zone(p_zone);
    v_end   timestamptz;
BEGIN
    SELECT substr(n.announce, 8)::timestamptz INTO v_end
      FROM notifications n WHERE n.id = p_digest;

    RETURN (
        WITH members AS (
            SELECT l.*
              FROM notifications n
              JOIN incidents_ledger l ON l.id = n.ledger_id
             WHERE n.digest_id = p_digest
        ), counts AS (
            SELECT portal_site_name(m.raw, m.site_id) AS site,
                   coalesce(m.severity, '') AS severity,
                   notify_rank(m.severity) AS rank, count(*) AS n
              FROM members m
             GROUP BY 1, 2, 3
        )
        SELECT jsonb_build_object(
            'period_end', to_char(v_end AT TIME ZONE v_zone,
                                  'YYYY-MM-DD HH24:MI'),
            'time_zone', v_zone,
            'total', (SELECT count(*) FROM members),
            'counts', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'site', c.site, 'severity', c.severity,
                                    'count', c.n)
                                  ORDER BY c.site, c.rank DESC)
                                  FROM counts c), '[]'),
            'incidents', coalesce((SELECT jsonb_agg(
                                       portal_incident_json(m)::jsonb
                                       || jsonb_build_object('local_time',
                                              to_char(m.occurred_at
                                                      AT TIME ZONE v_zone,
                                                      'YYYY-MM-DD HH24:MI'))
                                       ORDER BY m.occurred_at, m.report_id)
                                     FROM members m), '[]')));
END
$$;
