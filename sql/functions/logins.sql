-- logins.sql: portal login and logout.
--
-- The bcrypt check runs in a low-priority thread of the nginx module,
-- so that a storm of logins does not take the cores from the backends
-- that acknowledge webhooks, and a password is never sent to the
-- database.  portal_login_hash() applies the throttle, records the
-- attempt and returns the hash to check (a dummy one for an unknown or
-- disabled account, so that both cost the same); portal_login_open()
-- opens the session when the password matched.

-- The throttle slows guessing down without locking the owner out.  Every
-- attempt is recorded (a row of portal_login_failures) by the statement
-- that lets it through, before its password is checked, so concurrent
-- guesses see each other; it stays counted unless it opens a session:
-- wrong passwords, unknown accounts, and logins refused afterwards (503:
-- too many at once, or the check waited too long) or abandoned all count.
-- An address is the client's /32 (IPv4) or /64 (IPv6): the connection's
-- address, which nginx's realip module rewrites to the client's behind a
-- trusted proxy.  Three rules, each giving a time to wait (Retry-After);
-- an attempt that has to wait is answered 429 and not recorded:
--   address:  30 attempts from an address in 15 minutes (any accounts)
--             refuse it for every account until fewer than 30 of them
--             are under 15 minutes old;
--   pair:     5 attempts on one account from one address within 15
--             minutes refuse that address on that account until 15
--             minutes after the latest;
--   account:  with n >= 5 attempts on an account in the last hour (from
--             any addresses), an address that itself has an attempt in
--             the last hour waits min(2^(n-5), 900) seconds after the
--             account's latest attempt.  An address with no attempt in
--             the last hour (the owner at home, at the office, on the
--             phone) is never held back by this rule: guesses from
--             elsewhere cannot lock the owner out.
-- A session opened clears its account's attempts from its address.

-- the key the throttle counts an address under: the address for IPv4
-- (IPv4-mapped IPv6 too), the /64 network for IPv6, the text itself for
-- what is not an address (a unix socket)
CREATE OR REPLACE FUNCTION portal_login_net(p_ip text)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    a  inet;
BEGIN
    BEGIN
        a := p_ip::inet;
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN p_ip;
    END;

    IF family(a) = 6 AND a << inet '::ffff:0.0.0.0/96' THEN
        a := inet '0.0.0.0' + (a - inet '::ffff:0.0.0.0');
    END IF;

    IF family(a) = 4 THEN
        RETURN host(a);
    END IF;

    RETURN network(set_masklen(a, 64))::text;
END
$$;

-- the first half of a login: 429 while the throttle holds the attempt
-- back (the seconds to wait in `next`), else the attempt is recorded and
-- the answer is 200 with the bcrypt hash to check the password against
-- in `next` (a dummy hash for an unknown or disabled account)
CREATE OR REPLACE FUNCTION portal_login_hash(p_email text, p_ip text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    v_email  text := lower(p_email);
    v_net    text := portal_login_net(coalesce(p_ip, ''));
    v_wait   interval := interval '0';
    v_at     timestamptz;
    v_first  timestamptz;
    v_n      bigint;
    v_hash   text;
BEGIN
    -- one attempt at a time per account and per address, so that each
    -- counts every attempt let through before it (always in this order)
    PERFORM pg_advisory_xact_lock(
                hashtextextended('portal_login account ' || v_email, 0));
    PERFORM pg_advisory_xact_lock(
                hashtextextended('portal_login address ' || v_net, 0));

    -- address: the 30th latest attempt from it, under 15 minutes old
    SELECT at INTO v_at FROM portal_login_failures
     WHERE ip = v_net AND at > now() - interval '15 minutes'
     ORDER BY at DESC OFFSET 29 LIMIT 1;

    IF v_at IS NOT NULL THEN
        v_wait := greatest(v_wait, v_at + interval '15 minutes' - now());
    END IF;

    -- pair: its 5 latest attempts within 15 minutes of the latest
    SELECT max(at), min(at) INTO v_at, v_first FROM (
        SELECT at FROM portal_login_failures
         WHERE lower(email) = v_email AND ip = v_net
           AND at > now() - interval '30 minutes'
         ORDER BY at DESC LIMIT 5) f
    HAVING count(*) = 5;

    IF v_at IS NOT NULL AND v_first > v_at - interval '15 minutes' THEN
        v_wait := greatest(v_wait, v_at + interval '15 minutes' - now());
    END IF;

    -- account: n attempts in the last hour, for addresses that have
    -- attempts of their own in the last hour
    SELECT count(*), max(at) INTO v_n, v_at FROM portal_login_failures
     WHERE lower(email) = v_email AND at > now() - interval '1 hour';

    IF v_n >= 5
       AND EXISTS (SELECT 1 FROM portal_login_failures
                    WHERE ip = v_net AND at > now() - interval '1 hour')
    THEN
        v_wait := greatest(v_wait, v_at - now()
                  + make_interval(secs => least(2 ^ least(v_n - 5, 10),
                                                900)));
    END IF;

    IF v_wait > interval '0' THEN
        RETURN portal_reply(429,
                '{"error":"too many failed logins, try again later"}',
                NULL, NULL, ceil(extract(epoch FROM v_wait))::bigint::text);
    END IF;

    INSERT INTO portal_login_failures (email, ip)
    VALUES (left(p_email, 320), v_net);

    SELECT password_hash INTO v_hash FROM portal_users
     WHERE lower(email) = v_email AND NOT disabled;

    RETURN portal_reply(200, NULL, NULL, NULL, coalesce(v_hash,
        '$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Jj/PpaUPoOj1cdyq1ZUzlq7UkRvK'));
END
$$;

-- the second half: p_hash is the hash the password matched ('' when it
-- did not).  The session opens only if it is still the account's hash
-- (a password changed in between fails the login).  The attempt was
-- recorded by portal_login_hash(); a session opened clears the account's
-- attempts from this address.
CREATE OR REPLACE FUNCTION portal_login_open(
    p_email text, p_hash text, p_ip text, p_ttl integer)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u        portal_users;
    v_token  text;
BEGIN
    SELECT * INTO u FROM portal_users
     WHERE lower(email) = lower(p_email) AND NOT disabled
       AND password_hash = nullif(p_hash, '');

    IF u.id IS NULL THEN
        RETURN portal_reply(401, '{"error":"invalid email or password"}',
                NULL, NULL, NULL);
    END IF;

    v_token := encode(gen_random_bytes(32), 'hex');

    INSERT INTO portal_sessions (id, user_id, expires_at, ip)
    VALUES (encode(digest(v_token, 'sha256'), 'hex'), u.id,
            now() + make_interval(secs => p_ttl), p_ip);

    DELETE FROM portal_login_failures
     WHERE lower(email) = lower(u.email)
       AND ip = portal_login_net(coalesce(p_ip, ''));

    RETURN portal_reply(200, portal_me_json(u)::text, u.email, u.client_id,
                        v_token);
END
$$;

CREATE OR REPLACE FUNCTION portal_logout(p_token text)
RETURNS portal_answer LANGUAGE sql AS $$
    UPDATE portal_sessions SET revoked_at = now()
     WHERE id = encode(digest(p_token, 'sha256'), 'hex')
       AND revoked_at IS NULL;
    SELECT (200, '{"status":"logged out"}', NULL, NULL, NULL)::portal_answer;
$$;

-- Housekeeping, called by the worker every few minutes: deletes at most
-- p_limit sessions that expired or were revoked, and at most p_limit
-- login attempts older than the throttle's longest window (an hour).
-- Returns how many of each it deleted: call again while either equals
-- p_limit.  Each call is one short transaction.
CREATE OR REPLACE FUNCTION tracktik_portal_prune(p_limit integer DEFAULT 1000)
RETURNS TABLE (sessions bigint, failures bigint) LANGUAGE plpgsql AS $$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'tracktik_portal_prune: the limit must be at '
                        'least 1, not %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    WITH gone AS (
        DELETE FROM portal_sessions
         WHERE id = ANY (ARRAY(
                   SELECT id FROM portal_sessions
                    WHERE expires_at < now()
                   UNION
                   SELECT id FROM portal_sessions
                    WHERE revoked_at IS NOT NULL
                   LIMIT p_limit))
        RETURNING 1)
    SELECT count(*) INTO sessions FROM gone;

    WITH gone AS (
        DELETE FROM portal_login_failures
         WHERE ctid = ANY (ARRAY(
                   SELECT ctid FROM portal_login_failures
                    WHERE at < now() - interval '1 hour'
                    LIMIT p_limit))
        RETURNING 1)
    SELECT count(*) INTO failures FROM gone;

    RETURN NEXT;
END
$$;
