-- portal_notify.sql: notifications in the portal (issue 12; the tables:
-- migrations/015_notify.sql and 020_notify_portal.sql).
--
--   notify/subscriptions[/ID]  a user's own subscriptions: list (GET),
--                              create (POST), change (POST .../ID),
--                              delete (DELETE .../ID)
--   notify/rules[/ID]          operators: the rules in force, a rule
--                              switched off or on again
--   notify/log, notify/replay/ID   operators: every delivery attempt; a
--                              dead notification queued again
--   notify/unsubscribe         the one-click link of every mail: no login,
--                              the signed token is the authority
--
-- A subscription is a notify_rules row with owner_user_id.  Its match is
-- written here from what its owner may see (their client, their sites),
-- and notify_enqueue() tells only the owner, and only of incidents
-- portal_visible() lets them see, whatever the row says: a tampered row
-- cannot widen it.  Another user's subscription answers 404, as one that
-- does not exist, so ids reveal nothing.


-- 401 without a session, 403 for anyone but an operator; NULL status for
-- an operator
CREATE OR REPLACE FUNCTION portal_notify_refusal(u portal_users)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN u.id IS NULL THEN portal_unauthorized()
        WHEN u.role IS DISTINCT FROM 'operator'
            THEN portal_reply(403, '{"error":"notification rules and their '
                                   'delivery log are for operators only"}',
                              u.email, u.client_id, NULL)
        ELSE (NULL, NULL, NULL, NULL, NULL)::portal_answer
    END
$$;

CREATE OR REPLACE FUNCTION portal_notify_error(u portal_users,
    p_status integer, p_message text)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT portal_reply(p_status,
                        json_build_object('error', p_message)::text,
                        u.email, u.client_id, NULL)
$$;

-- a subscription as the page shows it
CREATE OR REPLACE FUNCTION portal_notify_subscription_json(r notify_rules,
                                                           p_recipient bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id,
        'sites', r.site_ids,
        'min_severity', r.min_severity,
        'mode', r.mode,
        'digest_at', to_char(r.digest_at, 'HH24:MI'),
        'digest_weekday', (ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri',
                                 'sat'])[r.digest_weekday + 1],
        -- paused by the unsubscribe link of one of its mails
        'paused', EXISTS (SELECT 1 FROM notify_unsubscribes x
                           WHERE x.rule_key = r.rule_key
                             AND x.recipient_id = p_recipient))
$$;

-- the user's recipient row, if they have one yet
CREATE OR REPLACE FUNCTION portal_notify_recipient_of(u portal_users)
RETURNS notify_recipients LANGUAGE sql STABLE AS $$
    SELECT r.* FROM notify_recipients r
     WHERE r.kind = 'portal_user' AND r.portal_user_id = u.id
$$;

-- the rule of a subscription of u's (404 for anyone else's)
CREATE OR REPLACE FUNCTION portal_notify_own(u portal_users, p_id text)
RETURNS notify_rules LANGUAGE sql STABLE AS $$
    SELECT r.* FROM notify_rules r
     WHERE r.id = portal_billing_id(p_id)
       AND r.owner_user_id = u.id
       AND r.deleted_at IS NULL
$$;


-- GET notify/subscriptions: the user's own, and the time zone of their
-- digests
CREATE OR REPLACE FUNCTION portal_api_notify_subscriptions(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u      portal_users := portal_session_user(p_token);
    v_rec  notify_recipients;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    v_rec := portal_notify_recipient_of(u);

    RETURN portal_reply(200, json_build_object(
            'time_zone', coalesce(v_rec.time_zone, 'UTC'),
            'items', coalesce((
                SELECT json_agg(portal_notify_subscription_json(r, v_rec.id)
                                ORDER BY r.id)
                  FROM notify_rules r
                 WHERE r.owner_user_id = u.id AND r.deleted_at IS NULL),
                '[]'::json))::text,
        u.email, u.client_id, NULL);
END
$$;


-- Creates (p_id NULL) or changes one of u's subscriptions from the
-- request's values.  sites: comma-separated ids, each one the user's
-- (a site of their client with a report they may see; their account's
-- sites when it is limited), or empty for all of them; min_severity:
-- INFO..SEVERE or empty (any); mode: immediate, daily or weekly;
-- digest_at HH:MM and digest_weekday (sun..sat) for a digest; time_zone
-- (IANA; all of the user's digests); paused: true or false (the
-- unsubscribe link's pause), empty leaves it.  A bad value is a 400
-- naming it, and nothing is changed.
CREATE OR REPLACE FUNCTION portal_notify_save(u portal_users, p_id text,
    p_sites text, p_min_severity text, p_mode text, p_digest_at text,
    p_digest_weekday text, p_time_zone text, p_paused text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    v_rule     notify_rules;
    v_sites    bigint[];
    v_site     text;
    v_sev      text := upper(nullif(p_min_severity, ''));
    v_mode     text := coalesce(nullif(p_mode, ''), 'immediate');
    v_at       time;
    v_day      integer;
    v_zone     text := nullif(p_time_zone, '');
    v_rec      bigint;
    v_bad      text;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    IF p_id IS NOT NULL THEN
        v_rule := portal_notify_own(u, p_id);
        IF v_rule.id IS NULL THEN
            RETURN portal_notify_error(u, 404, 'not found');
        END IF;
    END IF;

    -- each site must be one of the user's: the same answer for another
    -- client's site as for one that does not exist
    IF nullif(p_sites, '') IS NOT NULL THEN
        FOREACH v_site IN ARRAY string_to_array(p_sites, ',') LOOP
            IF portal_billing_id(trim(v_site)) IS NULL THEN
                RETURN portal_notify_error(u, 400,
                    'sites must be site ids separated by commas');
            END IF;
            IF NOT EXISTS (
                SELECT 1 FROM incidents_ledger l
                 WHERE l.site_id = trim(v_site)::bigint
                   AND (u.role = 'operator' OR l.client_id = u.client_id)
                   AND (u.site_ids IS NULL OR l.site_id = ANY (u.site_ids)))
            THEN
                RETURN portal_notify_error(u, 400, format(
                    'site %s is not one of your sites', trim(v_site)));
            END IF;
            v_sites := array_append(v_sites, trim(v_site)::bigint);
        END LOOP;
    END IF;

    IF nullif(p_digest_at, '') IS NOT NULL THEN
        IF p_digest_at !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
            RETURN portal_notify_error(u, 400,
                'digest_at must be a time HH:MM');
        END IF;
        v_at := p_digest_at::time;
    END IF;

    SELECT d.n INTO v_day
      FROM (VALUES ('sun', 0), ('mon', 1), ('tue', 2), ('wed', 3),
                   ('thu', 4), ('fri', 5), ('sat', 6)) d(day, n)
     WHERE d.day = lower(p_digest_weekday);

    v_bad := CASE
        WHEN v_sev IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM notify_severities s
                              WHERE s.severity = v_sev)
            THEN 'min_severity must be INFO, LOW, MODERATE, HIGH or SEVERE'
        WHEN v_mode NOT IN ('immediate', 'daily', 'weekly')
            THEN 'mode must be immediate, daily or weekly'
        WHEN v_mode <> 'immediate' AND v_at IS NULL
            THEN 'a digest needs digest_at (HH:MM, your local time)'
        WHEN v_day IS NULL AND nullif(p_digest_weekday, '') IS NOT NULL
            THEN 'digest_weekday must be sun, mon, tue, wed, thu, fri or sat'
        WHEN v_mode = 'weekly' AND v_day IS NULL
            THEN 'a weekly digest needs digest_weekday'
        WHEN v_zone IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z
                              WHERE z.name = v_zone)
            THEN 'time_zone must be an IANA time zone (America/Toronto)'
        WHEN coalesce(p_paused, '') NOT IN ('', 'true', 'false')
            THEN 'paused must be true or false'
    END;

    IF v_bad IS NOT NULL THEN
        RETURN portal_notify_error(u, 400, v_bad);
    END IF;

    v_rec := notify_portal_recipient(u);
    IF v_rec IS NULL THEN
        RETURN portal_notify_error(u, 400, 'your address cannot be sent '
                                           'mail; ask an operator');
    END IF;

    IF v_zone IS NOT NULL THEN
        UPDATE notify_recipients SET time_zone = v_zone WHERE id = v_rec;
    END IF;

    IF v_rule.id IS NULL THEN
        INSERT INTO notify_rules (owner_user_id, rule_key, definition)
        VALUES (u.id, 'subscription', '{}')
        RETURNING * INTO v_rule;
    END IF;

    -- the match: the owner's client (an operator: any), the sites chosen
    -- (else the account's), approved reports; the key stays the same
    -- across changes, so nothing announced is announced again
    UPDATE notify_rules
       SET rule_key = 'subscription:' || id,
           client_ids = CASE WHEN u.role = 'client'
                             THEN ARRAY[u.client_id] END,
           site_ids = coalesce(v_sites, u.site_ids),
           min_severity = v_sev,
           statuses = ARRAY['approved'],
           mode = v_mode,
           digest_at = CASE WHEN v_mode <> 'immediate' THEN v_at END,
           digest_weekday = CASE WHEN v_mode = 'weekly' THEN v_day END,
           definition = jsonb_build_object('sites', v_sites,
                            'min_severity', v_sev, 'mode', v_mode,
                            'digest_at', p_digest_at,
                            'digest_weekday', p_digest_weekday)
     WHERE id = v_rule.id
    RETURNING * INTO v_rule;

    IF p_paused = 'true' THEN
        INSERT INTO notify_unsubscribes (rule_key, recipient_id)
        VALUES (v_rule.rule_key, v_rec)
        ON CONFLICT DO NOTHING;
    ELSIF p_paused = 'false' THEN
        DELETE FROM notify_unsubscribes
         WHERE rule_key = v_rule.rule_key AND recipient_id = v_rec;
    END IF;

    RETURN portal_reply(CASE WHEN p_id IS NULL THEN 201 ELSE 200 END,
                        portal_notify_subscription_json(v_rule, v_rec)::text,
                        u.email, u.client_id, NULL);
END
$$;

-- POST notify/subscriptions
CREATE OR REPLACE FUNCTION portal_api_notify_subscription_add(p_token text,
    p_sites text, p_min_severity text, p_mode text, p_digest_at text,
    p_digest_weekday text, p_time_zone text)
RETURNS portal_answer LANGUAGE sql AS $$
    SELECT portal_notify_save(portal_session_user(p_token), NULL, p_sites,
               p_min_severity, p_mode, p_digest_at, p_digest_weekday,
               p_time_zone, '')
$$;

-- POST notify/subscriptions/ID
CREATE OR REPLACE FUNCTION portal_api_notify_subscription_change(
    p_token text, p_id text, p_sites text, p_min_severity text,
    p_mode text, p_digest_at text, p_digest_weekday text,
    p_time_zone text, p_paused text)
RETURNS portal_answer LANGUAGE sql AS $$
    SELECT portal_notify_save(portal_session_user(p_token), p_id, p_sites,
               p_min_severity, p_mode, p_digest_at, p_digest_weekday,
               p_time_zone, p_paused)
$$;

-- DELETE notify/subscriptions/ID: marked, not removed (its notifications
-- and their log keep pointing to it); nothing more is queued for it
CREATE OR REPLACE FUNCTION portal_api_notify_subscription_delete(
    p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u       portal_users := portal_session_user(p_token);
    v_rule  notify_rules;
BEGIN
    IF u.id IS NULL THEN
        RETURN portal_unauthorized();
    END IF;

    v_rule := portal_notify_own(u, p_id);
    IF v_rule.id IS NULL THEN
        RETURN portal_notify_error(u, 404, 'not found');
    END IF;

    UPDATE notify_rules SET deleted_at = now() WHERE id = v_rule.id;

    -- what waited for its digest is not sent either
    UPDATE notifications SET state = 'dead',
           last_error = 'the subscription was deleted'
     WHERE rule_id = v_rule.id AND state = 'digest';

    RETURN portal_reply(200, json_build_object('deleted', v_rule.id)::text,
                        u.email, u.client_id, NULL);
END
$$;


-- GET notify/rules (operators): the rule set in force, each rule with
-- whom it tells and whether it is switched off, and every subscription
CREATE OR REPLACE FUNCTION portal_api_notify_rules(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer := portal_notify_refusal(u);
    v_set      notify_rule_sets;
BEGIN
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    SELECT s.* INTO v_set FROM notify_rule_sets s
     ORDER BY s.version DESC LIMIT 1;

    RETURN portal_reply(200, json_build_object(
        'version', v_set.version, 'name', v_set.name,
        'source_file', v_set.source_file, 'loaded_at', v_set.loaded_at,
        'loaded_by', v_set.loaded_by,
        'rules', coalesce((
            SELECT json_agg(json_build_object(
                       'id', r.id, 'rule_key', r.rule_key,
                       'definition', r.definition, 'mode', r.mode,
                       'enabled', r.disabled_at IS NULL,
                       'disabled_at', r.disabled_at,
                       'disabled_by', r.disabled_by,
                       'recipients', (
                           SELECT json_agg(coalesce(c.address,
                                      'portal users: ' || t.portal_role))
                             FROM notify_rule_targets t
                             LEFT JOIN notify_recipients c
                                    ON c.id = t.recipient_id
                            WHERE t.rule_id = r.id))
                       ORDER BY r.position)
              FROM notify_rules r
             WHERE r.rule_set_version = v_set.version), '[]'::json),
        'subscriptions', coalesce((
            SELECT json_agg(json_build_object(
                       'id', r.id, 'owner', p.email,
                       'client_id', p.client_id,
                       'definition', r.definition, 'mode', r.mode,
                       'enabled', r.disabled_at IS NULL,
                       'disabled_at', r.disabled_at,
                       'disabled_by', r.disabled_by)
                       ORDER BY r.id)
              FROM notify_rules r
              JOIN portal_users p ON p.id = r.owner_user_id
             WHERE r.deleted_at IS NULL), '[]'::json))::text,
        u.email, u.client_id, NULL);
END
$$;

-- POST notify/rules/ID?enabled=false|true (operators): a rule of the set
-- in force, or a subscription, switched off (until the next rule file
-- load, for a file's rule) or on again
CREATE OR REPLACE FUNCTION portal_api_notify_rule_switch(p_token text,
    p_id text, p_enabled text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer := portal_notify_refusal(u);
    v_id       bigint;
BEGIN
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    IF p_enabled IS NULL OR p_enabled NOT IN ('true', 'false') THEN
        RETURN portal_notify_error(u, 400, 'enabled must be true or false');
    END IF;

    UPDATE notify_rules r
       SET disabled_at = CASE WHEN p_enabled = 'false'
                              THEN coalesce(r.disabled_at, now()) END,
           disabled_by = CASE WHEN p_enabled = 'false'
                              THEN coalesce(r.disabled_by, u.email) END
     WHERE r.id = portal_billing_id(p_id)
       AND r.deleted_at IS NULL
       AND (r.owner_user_id IS NOT NULL
            OR r.rule_set_version = (SELECT max(s.version)
                                       FROM notify_rule_sets s))
    RETURNING r.id INTO v_id;

    IF v_id IS NULL THEN
        RETURN portal_notify_error(u, 404, 'not found');
    END IF;

    RETURN portal_reply(200, json_build_object('id', v_id,
                                 'enabled', p_enabled = 'true')::text,
                        u.email, u.client_id, NULL);
END
$$;


-- GET notify/log?limit=N&state=S (operators): every attempt, newest
-- first (at most 500), with its notification's state (a dead one can be
-- replayed), and the recipients paused for failing
CREATE OR REPLACE FUNCTION portal_api_notify_log(p_token text,
    p_limit text, p_state text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer := portal_notify_refusal(u);
    v_limit    bigint := coalesce(portal_billing_id(p_limit), 100);
    v_state    text := nullif(p_state, '');
BEGIN
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    IF v_state NOT IN ('pending', 'sending', 'sent', 'dead', 'digest',
                       'digested')
    THEN
        RETURN portal_notify_error(u, 400, 'state must be pending, '
                                   'sending, sent, dead, digest or digested');
    END IF;

    RETURN portal_reply(200, json_build_object(
        'items', coalesce((
            SELECT json_agg(json_build_object(
                       'id', a.id, 'at', a.at, 'channel', a.channel,
                       'ok', a.ok, 'status', a.status, 'detail', a.detail,
                       'duration_ms', a.duration_ms,
                       'notification', n.id, 'state', n.state,
                       'attempts', n.attempts, 'rule_key', n.rule_key,
                       'report_id', n.report_id, 'announce', n.announce,
                       'recipient', c.address)
                       ORDER BY a.at DESC, a.id DESC)
              FROM (SELECT a.* FROM notify_attempts a
                      JOIN notifications n ON n.id = a.notification_id
                     WHERE v_state IS NULL OR n.state = v_state
                     ORDER BY a.at DESC, a.id DESC
                     LIMIT least(v_limit, 500)) a
              JOIN notifications n ON n.id = a.notification_id
              JOIN notify_recipients c ON c.id = n.recipient_id), '[]'::json),
        'paused', coalesce((
            SELECT json_agg(json_build_object('address', c.address,
                                'since', c.paused_at,
                                'reason', c.paused_reason)
                            ORDER BY c.paused_at)
              FROM notify_recipients c
             WHERE c.paused_at IS NOT NULL), '[]'::json))::text,
        u.email, u.client_id, NULL);
END
$$;

-- POST notify/replay/ID (operators): a dead notification due again, as
-- `tracktik-worker notify replay ID`; 409 when it is not dead
CREATE OR REPLACE FUNCTION portal_api_notify_replay(p_token text,
                                                    p_id text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer := portal_notify_refusal(u);
    v_id       bigint := portal_billing_id(p_id);
    v_state    text;
BEGIN
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    IF v_id IS NOT NULL AND notify_replay(v_id) THEN
        RETURN portal_reply(200, json_build_object('requeued', v_id)::text,
                            u.email, u.client_id, NULL);
    END IF;

    SELECT n.state INTO v_state FROM notifications n WHERE n.id = v_id;

    IF v_state IS NULL THEN
        RETURN portal_notify_error(u, 404, 'not found');
    END IF;

    RETURN portal_notify_error(u, 409, format('notification %s is %s, not '
                                              'dead: nothing to replay',
                                              v_id, v_state));
END
$$;


-- notify/unsubscribe?token=T: this route takes no session, so p_token is
-- the link's signed token (notify_unsubscribe_token()).  GET says what
-- the link would stop and changes nothing (mail scanners open links);
-- POST (the page's button, or a mail client's RFC 8058 one-click POST)
-- pauses that rule for that recipient.  A malformed token is a 400, one
-- that does not verify (forged, or its notification gone) a 404; neither
-- changes anything.
CREATE OR REPLACE FUNCTION portal_notify_unsubscribe_answer(p_token text,
                                                            p_done boolean)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    n  notifications;
BEGIN
    IF p_token IS NULL OR p_token !~ '^[0-9]{1,18}\.[0-9a-f]{64}$' THEN
        RETURN portal_reply(400, '{"error":"this is not an unsubscribe '
                                 'link"}', NULL, NULL, NULL);
    END IF;

    SELECT x.* INTO n FROM notifications x
     WHERE x.id = split_part(p_token, '.', 1)::bigint
       AND notify_unsubscribe_token(x.id) = p_token;

    IF n.id IS NULL THEN
        RETURN portal_reply(404, '{"error":"this unsubscribe link is not '
                                 'valid"}', NULL, NULL, NULL);
    END IF;

    RETURN portal_reply(200, json_build_object(
            'address', (SELECT c.address FROM notify_recipients c
                         WHERE c.id = n.recipient_id),
            'paused', EXISTS (SELECT 1 FROM notify_unsubscribes x
                               WHERE x.rule_key = n.rule_key
                                 AND x.recipient_id = n.recipient_id),
            'unsubscribed', p_done)::text, NULL, NULL, NULL);
END
$$;

CREATE OR REPLACE FUNCTION portal_api_notify_unsubscribe_check(
    p_token text)
RETURNS portal_answer LANGUAGE sql STABLE AS $$
    SELECT portal_notify_unsubscribe_answer(p_token, false)
$$;

CREATE OR REPLACE FUNCTION portal_api_notify_unsubscribe(p_token text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(p_token ~ '^[0-9]{1,18}\.[0-9a-f]{64}$', false)
       AND notify_unsubscribe(p_token)
    THEN
        RETURN portal_notify_unsubscribe_answer(p_token, true);
    END IF;

    RETURN portal_notify_unsubscribe_answer(p_token, false);
END
$$;
