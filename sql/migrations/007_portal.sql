-- 007_portal: portal users, sessions, login failures, attachments and
-- the portal API's answer type (the functions: sql/functions/portal*.sql,
-- logins.sql, users.sql).
--
-- Passwords are bcrypt hashes: the nginx module checks them in a
-- low-priority thread; tracktik-worker users add/passwd make them with
-- pgcrypto (which the session functions also use for digests).

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

-- charges that no credit line has taken back
CREATE VIEW portal_billing_open AS
SELECT b.*
  FROM billing_lines b
 WHERE b.kind = 'charge'
   AND NOT EXISTS (SELECT 1 FROM billing_lines c
                    WHERE c.credits_line_id = b.id);


-- the sites a user may filter by, found by stepping through this index
-- from one (client, site) pair to the next (portal_api_sites())
CREATE INDEX incidents_ledger_client_site
    ON incidents_ledger (client_id, site_id, occurred_at DESC);
