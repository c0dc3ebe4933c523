-- 015_notify: stakeholder notifications (issue 12): rule sets, recipients,
-- the outbox of notifications and the log of delivery attempts.
--
-- `tracktik-worker notify rules load FILE` stores each file as a new rule
-- set version, like contract rules (003); the newest version is in force.
-- Rules owned by a portal user (subscriptions, managed in the portal
-- later) live in the same table with owner_user_id instead of a version.
--
-- The outbox: a statement-level trigger on incidents_ledger
-- (incidents_notify_add(), sql/functions/triggers.sql, calling
-- notify_enqueue(), sql/functions/notify.sql) writes one notifications
-- row per matching rule and recipient in the transaction that inserts
-- the ledger version, so a rolled back version neither loses nor sends
-- one.  The unique key (rule_key, recipient_id, report_id, announce)
-- makes it exactly once: 'new' for the first matching version,
-- 'severity_raised:<LEVEL>' for a later version whose severity is above
-- every level announced so far.

-- the signing key of unsubscribe links (one row, made here, never shown)
CREATE TABLE notify_settings (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    unsubscribe_key  bytea NOT NULL
);

INSERT INTO notify_settings (unsubscribe_key) VALUES (gen_random_bytes(32));

-- severities in rising order (TrackTik's report-flags severityLevel)
CREATE TABLE notify_severities (
    severity  text PRIMARY KEY,
    rank      integer NOT NULL UNIQUE
);

INSERT INTO notify_severities VALUES
    ('INFO', 1), ('LOW', 2), ('MODERATE', 3), ('HIGH', 4), ('SEVERE', 5);

CREATE TABLE notify_rule_sets (
    version      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    source_file  text NOT NULL DEFAULT '',
    document     jsonb NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    loaded_by    text NOT NULL DEFAULT current_user
);

-- who is told: an address (email), a portal user, or a webhook endpoint.
-- A recipient outlives rule set versions (the outbox key names it), so a
-- reloaded file finds the same rows by (kind, address).
CREATE TABLE notify_recipients (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('email', 'portal_user', 'webhook')),
    address         text NOT NULL,      -- email address or endpoint URL
    name            text NOT NULL DEFAULT '',
    portal_user_id  bigint REFERENCES portal_users,
    time_zone       text NOT NULL DEFAULT 'UTC',    -- for digests
    paused_at       timestamptz,
    paused_reason   text,
    failures        integer NOT NULL DEFAULT 0,     -- consecutive
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, address),
    CHECK ((kind = 'portal_user') = (portal_user_id IS NOT NULL)),
    CHECK (kind <> 'webhook' OR address ~ '^https?://'),
    CHECK (kind = 'webhook' OR address ~ '^[^@\s<>",;]+@[^@\s<>",;]+$'),
    CHECK ((paused_at IS NULL) = (paused_reason IS NULL))
);

-- a webhook endpoint's secrets ("whsec_" + base64): several during a
-- rotation, each signs every delivery (Standard Webhooks).  Apart from
-- the recipients so that grants can keep them from readers of the log.
CREATE TABLE notify_webhook_secrets (
    recipient_id  bigint NOT NULL REFERENCES notify_recipients,
    position      integer NOT NULL,
    secret        text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]+$'),
    PRIMARY KEY (recipient_id, position)
);

-- one rule of a file's version, or a portal user's subscription.  The
-- match columns are the file's "match" object normalized: NULL = any.
CREATE TABLE notify_rules (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_set_version   integer REFERENCES notify_rule_sets,
    owner_user_id      bigint REFERENCES portal_users,
    rule_key           text NOT NULL,   -- the file's id; stable over versions
    position           integer NOT NULL DEFAULT 0,
    client_ids         bigint[],
    site_ids           bigint[],
    template_ids       bigint[],
    template_names     text[],
    category_ids       bigint[],
    category_names     text[],
    severities         text[],
    min_severity       text REFERENCES notify_severities,
    statuses           text[],          -- NULL: any status
    window_from        integer CHECK (window_from BETWEEN 0 AND 1439),
    window_to          integer CHECK (window_to BETWEEN 0 AND 1440),
    weekdays           integer NOT NULL DEFAULT 0,  -- bit n: dow n (0 sun)
    mode               text NOT NULL DEFAULT 'immediate'
                       CHECK (mode IN ('immediate', 'daily', 'weekly')),
    digest_at          time,            -- local time of a digest
    digest_weekday     integer CHECK (digest_weekday BETWEEN 0 AND 6),
    definition         jsonb NOT NULL,
    CHECK ((rule_set_version IS NULL) <> (owner_user_id IS NULL)),
    CHECK ((window_from IS NULL) = (window_to IS NULL)),
    UNIQUE (rule_set_version, rule_key)
);

CREATE INDEX notify_rules_owner ON notify_rules (owner_user_id)
    WHERE owner_user_id IS NOT NULL;

-- whom a rule tells: one recipient, or the portal users of a role (of
-- the incident's client, and, with sites, only those sites' users)
CREATE TABLE notify_rule_targets (
    rule_id        bigint NOT NULL REFERENCES notify_rules,
    recipient_id   bigint REFERENCES notify_recipients,
    portal_role    text CHECK (portal_role IN ('client', 'operator')),
    portal_sites   bigint[],
    CHECK ((recipient_id IS NULL) <> (portal_role IS NULL))
);

CREATE INDEX notify_rule_targets_rule ON notify_rule_targets (rule_id);

-- rule set versions are never changed (contract_rules_immutable() says so
-- for any table)
CREATE TRIGGER notify_rule_sets_immutable
    BEFORE UPDATE OR DELETE ON notify_rule_sets
    FOR EACH ROW EXECUTE FUNCTION contract_rules_immutable();

CREATE TRIGGER notify_rule_sets_no_truncate
    BEFORE TRUNCATE ON notify_rule_sets
    FOR EACH STATEMENT EXECUTE FUNCTION contract_rules_immutable();

-- a subscription (rule, recipient) paused by the unsubscribe link of one
-- of its mails (or by its owner in the portal): nothing more is queued
CREATE TABLE notify_unsubscribes (
    rule_key      text NOT NULL,
    recipient_id  bigint NOT NULL REFERENCES notify_recipients,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_key, recipient_id)
);

-- the outbox.  state: pending (due at next_attempt_at), sending (claimed
-- until lease_until; a sender that died lets it come back), sent, dead
-- (attempts used up: `notify replay ID`), digest (waits for its
-- recipient's digest), digested (went out in digest_id).  A digest is a
-- row of its own: report_id 0, announce 'digest:<end of its period>',
-- no ledger row; the rows it carries point to it.
CREATE TABLE notifications (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_key         text NOT NULL,
    recipient_id     bigint NOT NULL REFERENCES notify_recipients,
    report_id        bigint NOT NULL,
    announce         text NOT NULL
                     CHECK (announce = 'new'
                            OR announce ~ '^severity_raised:[A-Z]+$'
                            OR announce ~ '^digest:'),
    rule_id          bigint NOT NULL REFERENCES notify_rules,
    ledger_id        bigint REFERENCES incidents_ledger,
    severity_rank    integer,           -- of the version announced
    channel          text NOT NULL CHECK (channel IN ('email', 'webhook')),
    mode             text NOT NULL DEFAULT 'immediate',
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'dead',
                                      'digest', 'digested')),
    digest_id        bigint REFERENCES notifications,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    last_error       text,
    UNIQUE (rule_key, recipient_id, report_id, announce),
    CHECK ((ledger_id IS NULL) = (announce ~ '^digest:'))
);

CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX notifications_report ON notifications (report_id);
CREATE INDEX notifications_waiting ON notifications (recipient_id, rule_key)
    WHERE state = 'digest';
CREATE INDEX notifications_digest ON notifications (digest_id)
    WHERE digest_id IS NOT NULL;

-- every delivery attempt: what the SMTP relay or the endpoint answered
CREATE TABLE notify_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications,
    at               timestamptz NOT NULL DEFAULT now(),
    channel          text NOT NULL,
    ok               boolean NOT NULL,
    status           text NOT NULL,     -- SMTP code, HTTP status, "timeout"
    detail           text NOT NULL DEFAULT '',
    duration_ms      integer NOT NULL DEFAULT 0
);

CREATE INDEX notify_attempts_notification
    ON notify_attempts (notification_id);
CREATE INDEX notify_attempts_at ON notify_attempts (at);

-- the outbox follows the ledger, whoever inserts (incidents_notify_add():
-- sql/functions/triggers.sql)
CREATE TRIGGER incidents_ledger_notify
    AFTER INSERT ON incidents_ledger
    REFERENCING NEW TABLE AS notify_added
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_notify_add();
