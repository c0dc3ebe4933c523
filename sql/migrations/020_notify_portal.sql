-- 020_notify_portal: notification rules managed in the portal (issue 12).
--
-- Operators switch a rule of the rule set in force off and on again
-- without loading a new file (disabled_at, disabled_by); a client user's
-- subscription (owner_user_id, 015) is removed by marking it
-- (deleted_at), because the notifications it queued, and their delivery
-- log, keep pointing to it.  A rule with either set is not in force
-- (notify_rules_in_force(), functions/notify.sql).

ALTER TABLE notify_rules
    ADD COLUMN disabled_at  timestamptz,
    ADD COLUMN disabled_by  text,
    ADD COLUMN deleted_at   timestamptz,
    ADD CONSTRAINT notify_rules_disabled_by
        CHECK ((disabled_at IS NULL) = (disabled_by IS NULL)),
    -- only a subscription is deleted; a file's rule stays in its version
    ADD CONSTRAINT notify_rules_deleted_owned
        CHECK (deleted_at IS NULL OR owner_user_id IS NOT NULL);
