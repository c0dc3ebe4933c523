-- pull.sql: REST pulls of /rest/v1/reports (tables: migrations/016_pull.sql
-- and 023_pull_cursor.sql; the worker side: src/worker/pull.c).
--
-- The worker asks tracktik_pull_next() which window and offset to list,
-- lists one page of it and hands the page, as TrackTik sent it, to
-- tracktik_pull_page(): the reports become jobs through tracktik_ingest(),
-- the very function webhook deliveries go through, and the pull's cursor
-- moves, in one statement.  So a pulled report takes the webhook path
-- from there on (enrichment, rules, ledger versions, billing), a page is
-- never queued twice, and a report whose content was pulled before is
-- not even queued again (its dedupe key is the SHA-256 of its content).
--
-- Windows slide: each starts at the cursor, the last reportDateTime a
-- full page ended on, and spans a month (TrackTik's limit on :between),
-- so a page is short only where a month after the cursor holds fewer
-- reports than a page, or at the range's end.

-- the last second of the window starting at p_start: a month later less
-- a second (:between is inclusive at both ends, and TrackTik refuses
-- more than a month), or the range's end p_to when that comes first.
-- Month arithmetic in UTC, whatever the session's TimeZone.
CREATE OR REPLACE FUNCTION tracktik_pull_window_end(p_start timestamptz,
                                                    p_to timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT least(((p_start AT TIME ZONE 'UTC') + interval '1 month'
                  - interval '1 second') AT TIME ZONE 'UTC', p_to);
$$;


-- the calendar windows of [p_from, p_to] (inclusive, UTC): each at most
-- one month; whole seconds, no gap, no overlap.  The audit lists its
-- range in these (a pull slides its windows instead).
CREATE OR REPLACE FUNCTION tracktik_pull_windows_of(p_from timestamptz,
                                                    p_to timestamptz)
RETURNS TABLE (window_no integer, starts_at timestamptz,
               ends_at timestamptz)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s  timestamptz := p_from;
BEGIN
    window_no := 0;
    WHILE s <= p_to LOOP
        starts_at := s;
        ends_at := tracktik_pull_window_end(s, p_to);
        RETURN NEXT;
        window_no := window_no + 1;
        s := ends_at + interval '1 second';
    END LOOP;
END
$$;


-- Opens a pull: a manual one resumes the unfinished pull of the same
-- range and filters when there is one (resumed true), else starts anew
-- with its cursor at the range's start.  The pull is locked for this
-- session (an advisory lock, released by tracktik_pull_finish() or when
-- the session ends, even by kill -9), so two processes never run one
-- pull.
CREATE OR REPLACE FUNCTION tracktik_pull_open(p_kind text,
    p_from timestamptz, p_to timestamptz, p_since timestamptz,
    p_site bigint, p_client bigint, p_worker text)
RETURNS TABLE (pull_id bigint, resumed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
BEGIN
    IF p_to < p_from THEN
        RAISE EXCEPTION 'the pull range ends (%) before it starts (%)',
            p_to, p_from USING ERRCODE = '22023';
    END IF;

    IF p_kind = 'manual' THEN
        SELECT p.id INTO v_id FROM tracktik_pulls p
         WHERE p.kind = 'manual' AND p.status <> 'done'
           AND p.range_from = p_from AND p.range_to = p_to
           AND p.site_id IS NOT DISTINCT FROM p_site
           AND p.client_id IS NOT DISTINCT FROM p_client
         ORDER BY p.id DESC LIMIT 1;
    ELSE
        -- a scheduled pull whose holder died is not resumed: the next
        -- one covers its range again
        UPDATE tracktik_pulls p
           SET status = 'failed', finished_at = now(),
               last_error = 'abandoned: its process stopped'
         WHERE p.kind = 'scheduled' AND p.status = 'running'
           AND pg_try_advisory_lock(hashtext('tracktik_pull'), p.id::integer);
        PERFORM pg_advisory_unlock(hashtext('tracktik_pull'), p.id::integer)
           FROM tracktik_pulls p
          WHERE p.kind = 'scheduled' AND p.last_error LIKE 'abandoned:%'
            AND p.finished_at = now();
        -- what it kept for its audit, which it will never have
        DELETE FROM tracktik_pull_seen s
         USING tracktik_pulls p
         WHERE p.id = s.pull_id AND p.kind = 'scheduled'
           AND p.status = 'failed';
    END IF;

    IF v_id IS NOT NULL THEN
        IF NOT pg_try_advisory_lock(hashtext('tracktik_pull'),
                                    v_id::integer)
        THEN
            RAISE EXCEPTION 'pull % of this range is running in another '
                'process', v_id USING ERRCODE = '55P03';
        END IF;
        UPDATE tracktik_pulls
           SET status = 'running', finished_at = NULL, last_error = NULL,
               worker = p_worker
         WHERE id = v_id;
        pull_id := v_id;
        resumed := true;
        RETURN NEXT;
        RETURN;
    END IF;

    INSERT INTO tracktik_pulls (kind, range_from, range_to, updated_since,
                                site_id, client_id, worker, cursor_at)
    VALUES (p_kind, p_from, p_to, p_since, p_site, p_client, p_worker,
            p_from)
    RETURNING id INTO v_id;

    PERFORM pg_advisory_lock(hashtext('tracktik_pull'), v_id::integer);

    pull_id := v_id;
    resumed := false;
    RETURN NEXT;
END
$$;


-- What the worker lists next: the window from the cursor (as TrackTik
-- takes a date-time) and the offset into it.  When reports of the
-- cursor's second were queued already, the page starts with the last of
-- them (offset taken - 1): tracktik_pull_page() checks it is still there.
-- listed: nothing is left to list.
CREATE OR REPLACE FUNCTION tracktik_pull_next(p_pull bigint)
RETURNS TABLE (starts_at text, ends_at text, page_offset integer,
               listed boolean)
LANGUAGE sql STABLE AS $$
    SELECT to_char(p.cursor_at AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(tracktik_pull_window_end(p.cursor_at, p.range_to)
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           greatest(p.cursor_taken - 1, 0),
           p.listed_at IS NOT NULL
      FROM tracktik_pulls p
     WHERE p.id = p_pull;
$$;


-- a listed report's reportDateTime: ISO 8601 with or without an offset
-- (none: UTC), else a clear error naming the report
CREATE OR REPLACE FUNCTION tracktik_pull_when(p_value text, p_id bigint)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ ('^\d{4}-\d\d-\d\d[T ]\d\d:\d\d'
                                      '(:\d\d(\.\d+)?)?'
                                      '(Z|[+-]\d\d(:?\d\d)?)?$') THEN
        RAISE EXCEPTION 'report %: reportDateTime % is not a date-time',
            p_id, coalesce('"' || p_value || '"', 'is missing and')
            USING ERRCODE = '22023';
    END IF;
    IF p_value ~ '(Z|[+-]\d\d(:?\d\d)?)$' THEN
        RETURN p_value::timestamptz;
    END IF;
    RETURN p_value::timestamp AT TIME ZONE 'UTC';
END
$$;


-- One listed page ({"meta":…,"data":[reports]}), asked from p_from at
-- p_offset (what tracktik_pull_next() said): queues its reports as jobs
-- and moves the cursor past them.  Returns how many reports were new to
-- the pull (the page's first, when it repeats the last one queued, is
-- not), how many jobs they made (a report pulled before with the same
-- content makes none), whether the reports of the cursor's second
-- changed under the pull (restarted: that second is listed again from
-- its first report) and whether the pull has listed everything.
--
-- p_seen (a pull that is to be audited, the schedule's): the page's
-- reports as the worker read them for the audit (the items of
-- tracktik_audit_items(), audit.sql).  The ones new to the pull are kept
-- in tracktik_pull_seen, every one of them, whether or not it became a
-- job (a report the ledger has as listed is not queued, and the audit
-- must still see it); in this statement, so what is kept is exactly
-- what the cursor has passed.  NULL: nothing kept.
CREATE OR REPLACE FUNCTION tracktik_pull_page(p_pull bigint,
    p_from timestamptz, p_offset integer, p_limit integer, p_page text,
    p_seen jsonb)
RETURNS TABLE (items integer, queued integer, restarted boolean,
               listed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_page     jsonb := p_page::jsonb;
    v_pull     tracktik_pulls%ROWTYPE;
    v_end      timestamptz;
    v_ids      bigint[];
    v_ats      timestamptz[];
    v_reports  jsonb[];
    v_n        integer;
    v_skip     integer := 0;
    v_queued   integer := 0;
    v_last_at  timestamptz;
    v_at_last  integer := 0;
    v_done     boolean;
    v_listed   boolean;
BEGIN
    SELECT * INTO v_pull FROM tracktik_pulls p WHERE p.id = p_pull
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no pull %', p_pull;
    END IF;

    IF v_pull.listed_at IS NOT NULL OR v_pull.cursor_at <> p_from
       OR greatest(v_pull.cursor_taken - 1, 0) <> p_offset
    THEN
        RAISE EXCEPTION 'pull %: the page was not asked from its cursor',
            p_pull;
    END IF;

    IF jsonb_typeof(v_page->'data') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'the page has no "data" array'
            USING ERRCODE = '22023';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(v_page->'data') x
                WHERE jsonb_typeof(x) <> 'object'
                   OR jsonb_typeof(x->'id') <> 'number')
    THEN
        RAISE EXCEPTION 'a listed report has no numeric "id"'
            USING ERRCODE = '22023';
    END IF;

    SELECT array_agg((x.r->>'id')::bigint ORDER BY x.n),
           array_agg(tracktik_pull_when(x.r->>'reportDateTime',
                                        (x.r->>'id')::bigint) ORDER BY x.n),
           array_agg(x.r ORDER BY x.n)
      INTO v_ids, v_ats, v_reports
      FROM jsonb_array_elements(v_page->'data') WITH ORDINALITY x(r, n);
    v_n := coalesce(cardinality(v_ids), 0);
    v_end := tracktik_pull_window_end(v_pull.cursor_at, v_pull.range_to);

    -- the cursor is only as good as the order and the window: a tenant
    -- that sorted otherwise would have reports skipped, so it is refused
    FOR i IN 1 .. v_n LOOP
        IF v_ats[i] < v_pull.cursor_at
           OR v_ats[i] >= v_end + interval '1 second'
        THEN
            RAISE EXCEPTION 'report % (reportDateTime %) is outside the '
                'window % to % that was listed', v_ids[i], v_ats[i],
                v_pull.cursor_at, v_end USING ERRCODE = '22023';
        END IF;
        IF i > 1 AND (v_ats[i], v_ids[i]) <= (v_ats[i - 1], v_ids[i - 1])
        THEN
            RAISE EXCEPTION 'the page is not sorted by reportDateTime,id: '
                'report % comes after report %', v_ids[i], v_ids[i - 1]
                USING ERRCODE = '22023';
        END IF;
    END LOOP;

    -- the page must repeat the last report queued; if it does not, a
    -- report of that second was changed or removed meanwhile and the
    -- offset no longer counts the ones queued: list the second again
    -- from its start (what was queued before is not queued twice)
    IF v_pull.cursor_taken > 0 THEN
        IF v_n = 0 OR v_ids[1] <> v_pull.cursor_id THEN
            UPDATE tracktik_pulls p
               SET cursor_taken = 0, cursor_id = NULL, pages = p.pages + 1
             WHERE p.id = p_pull;
            items := 0;
            queued := 0;
            restarted := true;
            listed := false;
            RETURN NEXT;
            RETURN;
        END IF;
        v_skip := 1;
    END IF;

    IF v_n > v_skip THEN
        SELECT count(j.job_id)::integer INTO v_queued
          FROM tracktik_ingest(
                   (SELECT array_agg('pull:' || (r->>'id') || ':'
                                     || encode(sha256(convert_to(r::text,
                                                                 'UTF8')),
                                               'hex') ORDER BY n)
                      FROM unnest(v_reports[v_skip + 1 :])
                           WITH ORDINALITY u(r, n)),
                   (SELECT array_agg(r::text ORDER BY n)
                      FROM unnest(v_reports[v_skip + 1 :])
                           WITH ORDINALITY u(r, n))) j;

        -- the posts the reports include, as a listing of /positions
        -- would store them: enrichment and billing find them there
        PERFORM tracktik_pull_store_positions(
            (SELECT jsonb_agg(r->'position')
               FROM unnest(v_reports[v_skip + 1 :]) r
              WHERE jsonb_typeof(r->'position') = 'object'));

        -- the page's first report, when it repeats the last one queued,
        -- was kept with the page before
        INSERT INTO tracktik_pull_seen (pull_id, report_id, occurred_at,
                                        client_id, site_id, severity,
                                        category, report_template, status,
                                        updated_on)
        SELECT p_pull, x.*
          FROM tracktik_audit_items(p_seen) x
         WHERE p_seen IS NOT NULL
           AND (v_skip = 0 OR x.report_id <> v_pull.cursor_id);
    END IF;

    -- the window is done when the page is short or reaches meta.count;
    -- else the next one starts at the last second listed, counting the
    -- reports of that second queued so far
    v_done := v_n < p_limit
              OR (jsonb_typeof(v_page->'meta'->'count') = 'number'
                  AND (v_page->'meta'->>'count')::bigint <= p_offset + v_n);
    v_listed := v_done AND v_end >= v_pull.range_to;

    IF NOT v_done THEN
        v_last_at := date_trunc('second', v_ats[v_n]);
        FOR i IN v_skip + 1 .. v_n LOOP
            IF v_ats[i] >= v_last_at THEN
                v_at_last := v_at_last + 1;
            END IF;
        END LOOP;
    END IF;

    UPDATE tracktik_pulls p
       SET pages = p.pages + 1, reports = p.reports + (v_n - v_skip),
           queued = p.queued + v_queued,
           cursor_at = CASE WHEN NOT v_done THEN v_last_at
                            WHEN v_listed THEN p.range_to
                            ELSE v_end + interval '1 second' END,
           cursor_taken = CASE WHEN v_done THEN 0
                               WHEN v_last_at = p.cursor_at
                               THEN p.cursor_taken + v_n - v_skip
                               ELSE v_at_last END,
           cursor_id = CASE WHEN v_done THEN NULL ELSE v_ids[v_n] END,
           listed_at = CASE WHEN v_listed THEN now() END
     WHERE p.id = p_pull;

    items := v_n - v_skip;
    queued := v_queued;
    restarted := false;
    listed := v_listed;
    RETURN NEXT;
END
$$;


-- a relation's id: an integer, or an included object's "id"
CREATE OR REPLACE FUNCTION tracktik_pull_ref_id(p_ref jsonb)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(p_ref)
                WHEN 'number' THEN (p_ref #>> '{}')::bigint
                WHEN 'object' THEN (p_ref->>'id')::bigint
           END;
$$;


-- posts (PositionsItem objects: a listing's page, or the ones reports
-- include) into tracktik_positions, where enrichment and billing look
-- for a post's contract; how many
CREATE OR REPLACE FUNCTION tracktik_pull_store_positions(p_posts jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    INSERT INTO tracktik_positions AS p (position_id, name, site_id,
        contract_id, non_billable, fetched_at)
    SELECT DISTINCT ON ((x->>'id')::bigint)
           (x->>'id')::bigint, x->>'name',
           tracktik_pull_ref_id(x->'account'),
           tracktik_pull_ref_id(x->'contract'),
           coalesce((x->>'nonBillable')::boolean, false), now()
      FROM jsonb_array_elements(coalesce(p_posts, '[]')) x
     WHERE jsonb_typeof(x->'id') = 'number'
    ON CONFLICT (position_id) DO UPDATE
       SET name = EXCLUDED.name, site_id = EXCLUDED.site_id,
           contract_id = EXCLUDED.contract_id,
           non_billable = EXCLUDED.non_billable, fetched_at = now();

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


-- a listed page of /rest/v1/clients (include=name,timeZone) or
-- /rest/v1/positions into the reference tables enrichment reads
-- (migrations/005 and 006), so a pull's reports find their site, client
-- and post there instead of costing a request each
CREATE OR REPLACE FUNCTION tracktik_pull_reference(p_kind text,
                                                   p_page text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    IF p_kind = 'clients' THEN
        INSERT INTO tracktik_accounts AS a (account_id, name, type,
            parent_client_id, time_zone, status, fetched_at)
        SELECT (x->>'id')::bigint, x->>'name', x->>'type',
               tracktik_pull_ref_id(x->'parentClient'),
               x->>'timeZone', x->>'status', now()
          FROM jsonb_array_elements(p_page::jsonb->'data') x
        ON CONFLICT (account_id) DO UPDATE
           SET name = EXCLUDED.name, type = EXCLUDED.type,
               parent_client_id = EXCLUDED.parent_client_id,
               time_zone = EXCLUDED.time_zone, status = EXCLUDED.status,
               fetched_at = now();
    ELSIF p_kind = 'positions' THEN
        v_n := tracktik_pull_store_positions(p_page::jsonb->'data');
        RETURN v_n;
    ELSE
        RAISE EXCEPTION 'unknown reference kind %', p_kind;
    END IF;

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


-- the pull's outcome; its lock is released.  A scheduled pull that
-- failed is not resumed (the next one lists its range again): what it
-- kept for its audit goes.
CREATE OR REPLACE FUNCTION tracktik_pull_finish(p_pull bigint, p_ok boolean,
                                                p_error text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tracktik_pulls
       SET status = CASE WHEN p_ok THEN 'done' ELSE 'failed' END,
           finished_at = now(), last_error = p_error
     WHERE id = p_pull;
    IF NOT p_ok THEN
        DELETE FROM tracktik_pull_seen s
         USING tracktik_pulls p
         WHERE p.id = p_pull AND p.kind = 'scheduled'
           AND s.pull_id = p_pull;
    END IF;
    PERFORM pg_advisory_unlock(hashtext('tracktik_pull'), p_pull::integer);
END
$$;


-- The schedule's lease: true when p_holder holds it now, for p_seconds
-- more (taken when free or expired, renewed when already held).
CREATE OR REPLACE FUNCTION tracktik_pull_lease_take(p_holder text,
                                                    p_seconds integer)
RETURNS boolean
LANGUAGE sql AS $$
    UPDATE tracktik_pull_lease
       SET holder = p_holder,
           expires_at = clock_timestamp() + make_interval(secs => p_seconds)
     WHERE name = 'schedule'
       AND (holder = p_holder OR expires_at < clock_timestamp())
    RETURNING true;
$$;

-- gives the lease up (a clean stop), so another process takes over at once
CREATE OR REPLACE FUNCTION tracktik_pull_lease_drop(p_holder text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE tracktik_pull_lease SET holder = NULL, expires_at = '-infinity'
     WHERE name = 'schedule' AND holder = p_holder;
$$;

-- Whether a scheduled pull is due (the last one, whatever became of it,
-- started p_interval_s ago or more, or there was none), and the updatedOn
-- it starts from: the start of the last successful scheduled pull minus
-- p_margin_s (NULL: none yet, the whole look-back window).
CREATE OR REPLACE FUNCTION tracktik_pull_due(p_interval_s integer,
                                             p_margin_s integer)
RETURNS TABLE (due boolean, since timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT max(p.started_at) FROM tracktik_pulls p
                      WHERE p.kind = 'scheduled')
                    + make_interval(secs => p_interval_s) <= now(), true),
           (SELECT max(p.started_at) FROM tracktik_pulls p
             WHERE p.kind = 'scheduled' AND p.status = 'done')
           - make_interval(secs => p_margin_s);
$$;
