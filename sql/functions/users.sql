-- users.sql: portal users, for the CLI `tracktik-worker users ...`.
-- Passwords are hashed by pgcrypto (bcrypt, cost 10).

CREATE OR REPLACE FUNCTION portal_user_add(
    p_email text, p_password text, p_role text, p_client_id bigint, p_site_ids
    bigint[])
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

CREATE OR REPLACE FUNCTION portal_end_sessions(p_email text)
RETURNS void LANGUAGE sql AS $$
    UPDATE portal_sessions SET revoked_at = now()
     WHERE revoked_at IS NULL
       AND user_id = (SELECT id FROM portal_users
                       WHERE lower(email) = lower(p_email));
$$;

CREATE OR REPLACE FUNCTION portal_user_passwd(p_email text, p_password text)
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

CREATE OR REPLACE FUNCTION portal_user_disable(p_email text)
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
