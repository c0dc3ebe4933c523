-- 007_tracktik_reference: names, parents and time zones of the tenant's
-- clients and sites, as the worker's enrichment fetched them from
-- GET /rest/v1/clients/{id} (clients and sites share one id space).  A
-- cache with a time to live (fetched_at): a burst of reports for one site
-- costs one API call for the site and one for its client, not one per
-- report.  Posts live in tracktik_positions (006).

CREATE TABLE tracktik_accounts (
    account_id        bigint PRIMARY KEY,
    name              text,
    type              text,
    parent_client_id  bigint,
    time_zone         text,
    status            text,
    fetched_at        timestamptz NOT NULL DEFAULT now()
);
