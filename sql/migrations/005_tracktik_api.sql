-- 006_tracktik_api: what the worker's TrackTik API client shares between
-- all its processes and hosts: the OAuth2 session, the request budget, and
-- the billing sync's mapping tables and posting attempts.
--
-- tracktik_oauth: one row per tenant (base URL), written by
-- `tracktik-worker auth login`.  Refresh tokens are single use, so a
-- refresh happens only while holding this row's lock (SELECT ... FOR
-- UPDATE), re-reading it first, and the new pair is committed before the
-- new access token is used.  The row holds credentials: grant it only to
-- the worker's role.  needs_login_since is set when TrackTik refused the
-- stored refresh token (invalid_grant); API work stops until the operator
-- runs `auth login` again.
--
-- tracktik_api_budget: a token bucket per tenant, so all workers together
-- stay under the tenant's request limit, plus the "not before" time a 429's
-- Retry-After asked for.
--
-- tracktik_bill_items / tracktik_site_contracts / tracktik_positions: how a
-- billing line becomes a billing-adhoc-item (bill code -> billItem id, the
-- site's default contract, the post's contract fetched from TrackTik).
--
-- tracktik_billing_attempts: a POST whose answer was lost may still have
-- been stored by TrackTik; in_doubt tells the next attempt to look the
-- item up by its idempotency key before posting again.

CREATE TABLE tracktik_oauth (
    base_url           text PRIMARY KEY,
    client_id          text NOT NULL,
    client_secret      text NOT NULL,
    access_token       text,
    access_expires_at  timestamptz,
    access_refresh_at  timestamptz,
    refresh_token      text,
    refresh_count      bigint NOT NULL DEFAULT 0,
    logged_in_at       timestamptz NOT NULL DEFAULT now(),
    refreshed_at       timestamptz,
    needs_login_since  timestamptz,
    last_error         text,
    CHECK (base_url ~ '^https?://[^/]+(/.*[^/])?$')
);

CREATE TABLE tracktik_api_budget (
    base_url    text PRIMARY KEY,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL,
    not_before  timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE TABLE tracktik_bill_items (
    bill_code      text PRIMARY KEY,
    bill_item_id   bigint NOT NULL,
    default_price  numeric,
    source         text NOT NULL DEFAULT 'operator'
                   CHECK (source IN ('operator', 'api')),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tracktik_site_contracts (
    site_id      bigint PRIMARY KEY,
    contract_id  bigint NOT NULL
);

CREATE TABLE tracktik_positions (
    position_id  bigint PRIMARY KEY,
    name         text,
    site_id      bigint,
    contract_id  bigint,
    non_billable boolean NOT NULL DEFAULT false,
    fetched_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tracktik_billing_attempts (
    line_id          bigint PRIMARY KEY REFERENCES billing_lines,
    attempts         integer NOT NULL DEFAULT 0,
    in_doubt         boolean NOT NULL DEFAULT false,
    last_attempt_at  timestamptz NOT NULL DEFAULT now()
);
