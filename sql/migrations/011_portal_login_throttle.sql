-- 011_portal_login_throttle: the login throttle of
-- functions/logins.sql and its housekeeping, tracktik_portal_prune().
--
-- portal_login_failures now holds every login attempt that has not
-- opened a session (recorded before the password is checked), and its
-- ip is the address the throttle counts under: the client's IPv4
-- address, or its IPv6 /64 network.  The indexes below let the prune
-- find old attempts and dead sessions without reading the tables.

COMMENT ON TABLE portal_login_failures IS
    'login attempts that opened no session (yet), for the throttle';
COMMENT ON COLUMN portal_login_failures.ip IS
    'the client''s IPv4 address or IPv6 /64 (portal_login_net())';

CREATE INDEX portal_login_failures_at ON portal_login_failures (at);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
CREATE INDEX portal_sessions_revoked ON portal_sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- the worker prunes them (also when someone else made its role)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT SELECT, DELETE ON portal_sessions, portal_login_failures
            TO tracktik_worker_role;
    END IF;
END
$$;
