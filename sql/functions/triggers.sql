-- triggers.sql: the functions of the migrations' triggers.
--
-- Applied before the migrations (the others after them): a CREATE
-- TRIGGER needs its function.  So these may use no table or type a
-- migration creates in their declarations (their bodies are plpgsql,
-- resolved when they run).

-- 001: one NOTIFY per inserting statement wakes LISTENing workers;
-- NOTIFY is delivered at commit, so a worker never wakes for an
-- uncommitted job
CREATE OR REPLACE FUNCTION tracktik_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tracktik_jobs', '');
    RETURN NULL;
END
$$;

-- 002: the ledger is append-only, whoever asks
CREATE OR REPLACE FUNCTION incidents_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incidents_ledger is append-only: % is not allowed',
        TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'An updated report is recorded as a new version row.';
END
$$;

-- 003: rule sets are never changed after they are loaded
CREATE OR REPLACE FUNCTION contract_rules_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Load a new rule set version instead.';
END
$$;

-- 003: billing lines are never deleted; only the posting columns
-- (state, posted_at, external_id, last_error) may change
CREATE OR REPLACE FUNCTION billing_lines_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'billing_lines are never deleted: % is not allowed',
            TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Correct a line with a credit line and a new line.';
    END IF;

    IF (NEW.id, NEW.idempotency_key, NEW.kind, NEW.report_id, NEW.ledger_id,
        NEW.ledger_version, NEW.rule_set_version, NEW.rule_id, NEW.bill_code,
        NEW.quantity, NEW.unit_price, NEW.service_date, NEW.client_id,
        NEW.site_id, NEW.credits_line_id, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.idempotency_key, OLD.kind, OLD.report_id, OLD.ledger_id,
        OLD.ledger_version, OLD.rule_set_version, OLD.rule_id, OLD.bill_code,
        OLD.quantity, OLD.unit_price, OLD.service_date, OLD.client_id,
        OLD.site_id, OLD.credits_line_id, OLD.created_at)
    THEN
        RAISE EXCEPTION 'billing_lines are never edited: only state, '
                        'posted_at, external_id and last_error may change'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Correct a line with a credit line and a new line.';
    END IF;

    RETURN NEW;
END
$$;

-- 009: what a client may see of a report, read from its raw entity by the
-- search text below (written with each ledger version), the portal's
-- detail and photo functions and the photo queue.
--
-- A report field (TrackTik's ReportFieldsItem) is hidden when it, or the
-- template field it includes (ReportTemplateFields: "confidential",
-- "adminOnly"), carries either flag; the older "field" key is read too.
-- Any flag value but absent, null, false, 0, "" or "false" hides it, so a
-- flag TrackTik sends in another spelling fails closed.  A field whose
-- templateField is only an id carries no flags here.
CREATE OR REPLACE FUNCTION tracktik_flag_set(p_flag jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_flag IS NOT NULL
           AND p_flag NOT IN ('null', 'false', '0', '""', '"false"', '"0"')
$$;

CREATE OR REPLACE FUNCTION tracktik_field_hidden(f jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(f) IS DISTINCT FROM 'object'
        OR tracktik_flag_set(f->'confidential')
        OR tracktik_flag_set(f->'adminOnly')
        OR tracktik_flag_set(f#>'{templateField,confidential}')
        OR tracktik_flag_set(f#>'{templateField,adminOnly}')
        OR tracktik_flag_set(f#>'{field,confidential}')
        OR tracktik_flag_set(f#>'{field,adminOnly}')
$$;

-- the TrackTik file id of a photo field's link (.../<digits>[.ext][?...])
CREATE OR REPLACE FUNCTION tracktik_field_file_id(f jsonb)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(f->'value') = 'string'
                THEN substring(f->>'value'
                               FROM '^https?://[^?#]*/([0-9]{1,18})'
                                    '(\.[A-Za-z0-9]{1,10})?([?#].*)?$')
                         ::bigint
           END
$$;

-- the fields a client sees, in their order: neither hidden nor photos
-- (a photo is shown as an attachment)
CREATE OR REPLACE FUNCTION tracktik_visible_fields(p_raw jsonb)
RETURNS TABLE (n bigint, label text, type text, value text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT x.n,
           coalesce(x.f#>>'{templateField,label}', x.f#>>'{field,label}',
                    x.f->>'label', x.f->>'name'),
           coalesce(x.f#>>'{templateField,type}', x.f#>>'{field,type}',
                    x.f->>'type'),
           coalesce(x.f->>'valueLabel', x.f->>'value')
      FROM jsonb_array_elements(
               CASE WHEN jsonb_typeof(p_raw->'reportFields') = 'array'
                    THEN p_raw->'reportFields' ELSE '[]'::jsonb END)
           WITH ORDINALITY AS x(f, n)
     WHERE NOT tracktik_field_hidden(x.f)
       AND coalesce(x.f#>>'{templateField,type}', x.f#>>'{field,type}',
                    x.f->>'type', '') <> 'PICTURE'
$$;

-- what the portal's search (q=) reads of a ledger version: only what a
-- client sees of it (its id, site and post names, category, severity,
-- template, and the visible fields' labels and values), never the raw
-- entity, whose hidden fields and key names a search would reveal.
-- Stored in incidents_search (migrations/009_search_hidden.sql) when the
-- version is inserted: a change here needs a migration that computes the
-- stored text again.  A set-returning function of one row, so that it is
-- inlined into a set-wise INSERT ... SELECT (FROM rows, this(rows.raw,
-- ...)), three times faster than a scalar function called per row.
CREATE OR REPLACE FUNCTION tracktik_search_doc(p_raw jsonb,
    p_report_id bigint, p_site_id bigint, p_category text,
    p_severity text, p_template text)
RETURNS TABLE (doc text) LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws(E'\n', p_report_id::text,
               -- the site's name as portal_site_name() shows it
               coalesce(CASE WHEN jsonb_typeof(p_raw->'account') = 'object'
                             THEN p_raw#>>'{account,name}' END,
                        'Site ' || p_site_id::text),
               CASE WHEN jsonb_typeof(p_raw->'position') = 'object'
                    THEN p_raw#>>'{position,name}' END,
               p_category, p_severity, p_template,
               string_agg(concat_ws(': ', v.label, v.value), E'\n'
                          ORDER BY v.n))
      FROM tracktik_visible_fields(p_raw) v
$$;

-- 009: the search text of every ledger row an INSERT added, in one
-- statement (a transition table), whoever inserts
CREATE OR REPLACE FUNCTION incidents_search_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incidents_search (ledger_id, client_id, doc)
    SELECT a.id, a.client_id, d.doc
      FROM incidents_added a,
           tracktik_search_doc(a.raw, a.report_id, a.site_id, a.category,
                               a.severity, a.report_template) d;
    RETURN NULL;
END
$$;

-- 010: a time zone PostgreSQL knows, or UTC for one it does not (a
-- report's zone comes from the tenant; it must not fail the insert)
CREATE OR REPLACE FUNCTION tracktik_time_zone(p_zone text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE p_zone;
    RETURN p_zone;
EXCEPTION
    WHEN data_exception THEN
        RETURN 'UTC';
END
$$;

-- 010: incidents_daily follows the ledger.  Per inserting statement, for
-- each report it touched: when the newest version is now one of the new
-- rows, the report's previous newest version (if APPROVED) leaves its
-- day's count and the new one (if APPROVED) joins its day's.  The deltas
-- are summed per key and applied in key order (no deadlock between two
-- statements); ON CONFLICT makes concurrent statements add up.  Two
-- transactions never both add a version of one report: each new version
-- is the newest visible + 1 (tracktik_record_batch), so the second
-- collides with the first on (report_id, version) and rolls back.
CREATE OR REPLACE FUNCTION incidents_daily_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH touched AS (
        SELECT a.report_id, max(a.version) AS top,
               array_agg(a.version) AS versions
          FROM added a
         GROUP BY a.report_id
    ), before AS (
        -- the newest version among the rows that were there before (a
        -- join, not LATERAL: a bulk load may hash it)
        SELECT DISTINCT ON (l.report_id) l.report_id, l.version,
               l.occurred_at, l.time_zone, l.client_id, l.site_id,
               l.severity, l.status
          FROM incidents_ledger l
          JOIN touched t ON t.report_id = l.report_id
         WHERE l.version <> ALL (t.versions)
         ORDER BY l.report_id, l.version DESC
    ), moved AS (
        SELECT t.report_id, t.top, o.occurred_at, o.time_zone,
               o.client_id, o.site_id, o.severity, o.status
          FROM touched t
          LEFT JOIN before o ON o.report_id = t.report_id
         WHERE o.version IS NULL OR o.version < t.top
    ), delta AS (
        SELECT a.occurred_at, a.time_zone, a.client_id, a.site_id,
               a.severity, 1 AS n
          FROM moved m
          JOIN added a ON a.report_id = m.report_id AND a.version = m.top
         WHERE a.status = 'APPROVED' AND a.client_id IS NOT NULL
        UNION ALL
        SELECT m.occurred_at, m.time_zone, m.client_id, m.site_id,
               m.severity, -1
          FROM moved m
         WHERE m.status = 'APPROVED' AND m.client_id IS NOT NULL
    ), zones AS (
        SELECT z.time_zone, tracktik_time_zone(z.time_zone) AS zone
          FROM (SELECT DISTINCT d.time_zone FROM delta d) z
    )
    INSERT INTO incidents_daily AS r (utc_day, client_id, site_id, severity,
                                      local_day, n)
    SELECT (d.occurred_at AT TIME ZONE 'UTC')::date, d.client_id, d.site_id,
           d.severity, (d.occurred_at AT TIME ZONE z.zone)::date, sum(d.n)
      FROM delta d
      JOIN zones z ON z.time_zone = d.time_zone
     GROUP BY 1, 2, 3, 4, 5
    HAVING sum(d.n) <> 0
     ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (utc_day, client_id, site_id, severity, local_day)
        DO UPDATE SET n = r.n + EXCLUDED.n;

    RETURN NULL;
END
$$;

-- 018: the canonical content of a ledger row, the bytes its chain hash
-- covers (doc/ledger-chain.md says it in words, for an auditor who
-- recomputes it without us).  r is an incidents_ledger row (record: this
-- file may not name the table); p_seq its place in the chain.  Each field
-- in this fixed order is "-" when NULL, else its UTF-8 byte length, ":"
-- and its text, so no value can pass for another (a field holding
-- "3:abc" stays one field).  Integers in decimal, times in UTC to the
-- microsecond, raw as PostgreSQL's jsonb text (whose key order and
-- spacing are fixed by the value, not by how it was sent).
CREATE OR REPLACE FUNCTION tracktik_ledger_canonical(r record, p_seq bigint)
RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_fields  text[];
    v_out     text := 'tracktik-ledger-chain-v1' || chr(10);
    v_f       text;
BEGIN
    v_fields := ARRAY[
        r.id::text, p_seq::text, r.event_id, r.report_id::text,
        r.version::text,
        to_char(r.occurred_at AT TIME ZONE 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.client_id::text, r.site_id::text, r.severity, r.category,
        r.category_id::text, r.report_template,
        r.report_template_id::text, r.status, r.time_zone,
        to_char(r.updated_on AT TIME ZONE 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.raw::text, r.raw_sha256, r.job_id::text,
        to_char(r.recorded_at AT TIME ZONE 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')];

    FOREACH v_f IN ARRAY v_fields LOOP
        IF v_f IS NULL THEN
            v_out := v_out || '-';
        ELSE
            v_out := v_out || octet_length(convert_to(v_f, 'UTF8')) || ':'
                     || v_f;
        END IF;
    END LOOP;

    RETURN convert_to(v_out, 'UTF8');
END
$$;

-- 018: the tip of the chain as transaction p_xid left it
-- (tracktik.ledger_chain_tip = '<xid>:<chain_seq>:<row_hash in hex>'),
-- or NULL when this transaction has not extended the chain yet
CREATE OR REPLACE FUNCTION tracktik_ledger_chain_tip(p_xid text)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tip  text[] := string_to_array(
                         current_setting('tracktik.ledger_chain_tip', true),
                         ':');
BEGIN
    IF cardinality(v_tip) = 3 AND v_tip[1] = p_xid THEN
        RETURN v_tip;
    END IF;
    RETURN NULL;
END
$$;

-- 018: the hash chain, whoever inserts (SECURITY DEFINER: the head is
-- the owner's; the worker's role needs no right on it).  The first
-- ledger row a transaction inserts locks the head row (FOR UPDATE, held
-- to commit), so chain writers take turns and the chain follows commit
-- order; the transaction's tip (its xid, seq and hash) is then kept in a
-- transaction-local setting, not written to the head per row (one update
-- per row of a bulk load would leave the head a chain of dead versions).
-- incidents_ledger_chain_save() writes the tip to the head once per
-- statement.  Values the inserter gives for chain_seq and row_hash are
-- overwritten.
CREATE OR REPLACE FUNCTION incidents_ledger_chain_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_xid   text := pg_current_xact_id()::text;
    v_tip   text[] := tracktik_ledger_chain_tip(v_xid);
    v_seq   bigint;
    v_hash  bytea;
BEGIN
    IF v_tip IS NOT NULL THEN
        v_seq := v_tip[2]::bigint;
        v_hash := decode(v_tip[3], 'hex');
    ELSE
        SELECT h.seq, h.row_hash INTO v_seq, v_hash
          FROM incidents_ledger_chain_head h
           FOR UPDATE;
    END IF;

    NEW.chain_seq := v_seq + 1;
    NEW.row_hash := sha256(v_hash
                           || tracktik_ledger_canonical(NEW, NEW.chain_seq));

    PERFORM set_config('tracktik.ledger_chain_tip',
                       v_xid || ':' || NEW.chain_seq || ':'
                       || encode(NEW.row_hash, 'hex'), true);
    RETURN NEW;
END
$$;

-- 018: the tip this transaction's inserts reached becomes the head (after
-- each inserting statement; the head row is already locked by then)
CREATE OR REPLACE FUNCTION incidents_ledger_chain_save() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    -- _if_assigned: a statement that inserted nothing takes no xid
    v_tip  text[] := tracktik_ledger_chain_tip(
                         pg_current_xact_id_if_assigned()::text);
BEGIN
    IF v_tip IS NOT NULL THEN
        UPDATE incidents_ledger_chain_head
           SET seq = v_tip[2]::bigint, row_hash = decode(v_tip[3], 'hex')
         WHERE seq < v_tip[2]::bigint;
    END IF;
    RETURN NULL;
END
$$;

-- 015: the notification outbox follows the ledger: the rows an INSERT
-- added go to notify_enqueue() (sql/functions/notify.sql), in the same
-- transaction
CREATE OR REPLACE FUNCTION incidents_notify_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_enqueue(array_agg(a.id)) FROM notify_added a;
    RETURN NULL;
END
$$;
