-- logins.sql: portal login and logout.
--
-- The bcrypt check runs in a low-priority thread of the nginx module,
-- so that a storm of logins does not take the cores from the backends
-- that acknowledge webhooks, and a password is never sent to the
-- database.  portal_login_hash() applies the throttle and returns the
-- hash to check (a dummy one for an unknown or disabled account, so
-- that both cost the same); portal_login_open() records the outcome
-- and opens the session.

-- the first half of a login: 429 while the account or the address is
-- throttled, else 200 with the bcrypt hash to check the password against
-- in `next` (a dummy hash for an unknown or disabled account)
CREATE OR REPLACE FUNCTION portal_login_hash(p_email text, p_ip text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_hash  text;
BEGIN
    IF (SELECT count(*) FROM portal_login_failures
         WHERE lower(email) = lower(p_email)
           AND at > now() - interval '15 minutes') >= 5
       OR (SELECT count(*) FROM portal_login_failures
            WHERE ip = p_ip AND at > now() - interval '15 minutes') >= 30
    THEN
        RETURN portal_reply(429,
                '{"error":"too many failed logins, try again later"}',
                NULL, NULL, NULL);
    END IF;

    SELECT password_hash INTO v_hash FROM portal_users
     WHERE lower(email) = lower(p_email) AND NOT disabled;

    RETURN portal_reply(200, NULL, NULL, NULL, coalesce(v_hash,
        '$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Jj/PpaUPoOj1cdyq1ZUzlq7UkRvK'));
END
$$;

-- the second half: p_hash is the hash the password matched ('' when it
-- did not).  The session opens only if it is still the account's hash
-- (a password changed in between fails the login); a failure is counted
-- for the throttle, a success clears the account's failures.
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
