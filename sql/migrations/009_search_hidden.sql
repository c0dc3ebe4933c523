-- 009_search_hidden: the portal's search reads only what a client may
-- see, and photos of hidden fields are never queued, listed or served.
--
-- incidents_search holds, for each ledger row, the text the portal's q=
-- filter matches (tracktik_search_doc(): id, site, post, category,
-- severity, template, visible field labels and values; never a
-- confidential or admin-only field, nor the raw entity's key names).  It
-- is written with the ledger version, by the statement trigger below,
-- whatever inserts it (the worker's tracktik_record_batch(), imports,
-- tests); the ledger itself stays append-only.  A trigram index keeps q
-- fast on a large ledger (pg_trgm and btree_gin: PostgreSQL's contrib,
-- trusted extensions like pgcrypto in 007).
--
-- portal_attachments_shown is portal_attachments without the photos a
-- hidden field of their report names (in any of its versions): the
-- portal lists, counts and serves only these, photos stored before this
-- migration included.  Pending photos of hidden fields are skipped.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE incidents_search (
    ledger_id  bigint PRIMARY KEY,          -- incidents_ledger.id
    client_id  bigint,                      -- as the ledger row's
    doc        text NOT NULL
);

-- before the rows already there are read: the trigger's lock keeps any
-- other writer out until this migration commits, so none is missed
CREATE TRIGGER incidents_ledger_search
    AFTER INSERT ON incidents_ledger
    REFERENCING NEW TABLE AS incidents_added
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_search_add();

INSERT INTO incidents_search (ledger_id, client_id, doc)
SELECT l.id, l.client_id, d.doc
  FROM incidents_ledger l,
       tracktik_search_doc(l.raw, l.report_id, l.site_id, l.category,
                           l.severity, l.report_template) d;

-- one index for a client's search and an operator's: a GIN index serves
-- a condition on any of its columns (btree_gin indexes the client id), so
-- the planner may look a client's pattern up among that client's rows
CREATE INDEX incidents_search_doc
    ON incidents_search USING gin (client_id, doc gin_trgm_ops);

-- the photos a hidden field of a report names, in any of its versions
CREATE VIEW incidents_hidden_files AS
SELECT l.report_id, tracktik_field_file_id(f) AS file_id
  FROM incidents_ledger l
 CROSS JOIN LATERAL jsonb_array_elements(
           CASE WHEN jsonb_typeof(l.raw->'reportFields') = 'array'
                THEN l.raw->'reportFields' ELSE '[]'::jsonb END) f
 WHERE tracktik_field_hidden(f)
   AND tracktik_field_file_id(f) IS NOT NULL;

CREATE VIEW portal_attachments_shown AS
SELECT a.*
  FROM portal_attachments a
 WHERE NOT EXISTS (SELECT 1 FROM incidents_hidden_files h
                    WHERE h.report_id = a.report_id
                      AND h.file_id = a.id);

UPDATE tracktik_photos p
   SET state = 'skipped', done_at = now(),
       last_error = 'a confidential or admin-only field'
 WHERE p.state = 'pending'
   AND EXISTS (SELECT 1 FROM incidents_hidden_files h
                WHERE h.report_id = p.report_id
                  AND h.file_id = p.file_id);

-- the old filter read raw::text (portal_incidents_page() now joins
-- incidents_search instead)
DROP FUNCTION IF EXISTS portal_page_filter(incidents_ledger, bigint, text,
                                           text, text);

REVOKE ALL ON incidents_search FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_worker_role') THEN
        GRANT SELECT, INSERT ON incidents_search TO tracktik_worker_role;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles
                WHERE rolname = 'tracktik_portal_role') THEN
        GRANT SELECT ON incidents_search, incidents_hidden_files,
            portal_attachments_shown
            TO tracktik_portal_role;
    END IF;
END
$$;
