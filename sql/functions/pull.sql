-- pull.sql: REST pulls of /rest/v1/reports (tables: migrations/016_pull.sql;
-- the worker side: src/worker/pull.c).
--
-- The worker lists a window's reports a page at a time and hands each
-- page, as TrackTik sent it, to tracktik_pull_page(): the reports become
-- jobs through tracktik_ingest(), the very function webhook deliveries go
-- through, and the window's checkpoint moves, in one statement.  So a
-- pulled report takes the webhook path from there on (enrichment, rules,
-- ledger versions, billing), a page is never queued twice, and a report
-- whose content was pulled before is not even queued again (its dedupe
-- key is the SHA-256 of its content).

-- the windows of [p_from, p_to] (inclusive, UTC): each at most one month,
-- the longest :between TrackTik accepts; whole seconds, no gap, no overlap
CREATE OR REPLACE FUNCTION tracktik_pull_windows_of(p_from timestamptz,
                                                    p_to timestamptz)
RETURNS TABLE (window_no integer, starts_at timestamptz,
               ends_at timestamptz)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s  timestamptz := p_from;
    e  timestamptz;
BEGIN
    window_no := 0;
    WHILE s <= p_to LOOP
        -- month arithmetic in UTC, whatever the session's TimeZone
        e := least(((s AT TIME ZONE 'UTC') + interval '1 month'
                    - interval '1 second') AT TIME ZONE 'UTC', p_to);
        starts_at := s;
        ends_at := e;
        RETURN NEXT;
        window_no := window_no + 1;
        s := e + interval '1 second';
    END LOOP;
END
$$;


-- Opens a pull: a manual one resumes the unfinished pull of the same
-- range and filters when there is one (resumed true), else starts anew
-- with its windows.  The pull is locked for this session (an advisory
-- lock, released by tracktik_pull_finish() or when the session ends, even
-- by kill -9), so two processes never run one pull.
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
                                site_id, client_id, worker)
    VALUES (p_kind, p_from, p_to, p_since, p_site, p_client, p_worker)
    RETURNING id INTO v_id;

    INSERT INTO tracktik_pull_windows (pull_id, window_no, starts_at,
                                       ends_at)
    SELECT v_id, w.window_no, w.starts_at, w.ends_at
      FROM tracktik_pull_windows_of(p_from, p_to) w;

    PERFORM pg_advisory_lock(hashtext('tracktik_pull'), v_id::integer);

    pull_id := v_id;
    resumed := false;
    RETURN NEXT;
END
$$;


-- One listed page ({"meta":…,"data":[reports]}) of window p_window:
-- queues its reports as jobs and moves the checkpoint past them.
-- Returns the page's size, the checkpoint (highest report id so far),
-- how many jobs it made (a report pulled before with the same content
-- makes none) and whether the window is done.
CREATE OR REPLACE FUNCTION tracktik_pull_page(p_pull bigint,
    p_window integer, p_limit integer, p_page text)
RETURNS TABLE (items integer, last_id bigint, queued integer,
               window_done boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_page    jsonb := p_page::jsonb;
    v_keys    text[];
    v_bodies  text[];
    v_max     bigint;
    v_n       integer;
    v_queued  integer := 0;
    v_done    boolean;
BEGIN
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

    SELECT count(*)::integer,
           max((x->>'id')::bigint),
           array_agg('pull:' || (x->>'id') || ':'
                     || encode(sha256(convert_to(x::text, 'UTF8')), 'hex')
                     ORDER BY (x->>'id')::bigint),
           array_agg(x::text ORDER BY (x->>'id')::bigint)
      INTO v_n, v_max, v_keys, v_bodies
      FROM jsonb_array_elements(v_page->'data') x;

    IF v_n > 0 THEN
        SELECT count(i.job_id)::integer INTO v_queued
          FROM tracktik_ingest(v_keys, v_bodies) i;
    END IF;

    -- the last page: a short one, or one that holds all meta.count
    -- reports still matching (paged by id, so no empty page is needed
    -- to find the end)
    v_done := v_n < p_limit
              OR (jsonb_typeof(v_page->'meta'->'count') = 'number'
                  AND (v_page->'meta'->>'count')::bigint <= v_n);

    UPDATE tracktik_pull_windows w
       SET last_id = greatest(w.last_id, coalesce(v_max, 0)),
           pages = w.pages + 1, reports = w.reports + v_n,
           queued = w.queued + v_queued,
           done_at = CASE WHEN v_done THEN now() END
     WHERE w.pull_id = p_pull AND w.window_no = p_window
    RETURNING w.last_id INTO v_max;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'pull % has no window %', p_pull, p_window;
    END IF;

    UPDATE tracktik_pulls p
       SET pages = p.pages + 1, reports = p.reports + v_n,
           queued = p.queued + v_queued
     WHERE p.id = p_pull;

    items := v_n;
    last_id := v_max;
    queued := v_queued;
    window_done := v_done;
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
        INSERT INTO tracktik_positions AS p (position_id, name, site_id,
            contract_id, non_billable, fetched_at)
        SELECT (x->>'id')::bigint, x->>'name',
               tracktik_pull_ref_id(x->'account'),
               tracktik_pull_ref_id(x->'contract'),
               coalesce((x->>'nonBillable')::boolean, false), now()
          FROM jsonb_array_elements(p_page::jsonb->'data') x
        ON CONFLICT (position_id) DO UPDATE
           SET name = EXCLUDED.name, site_id = EXCLUDED.site_id,
               contract_id = EXCLUDED.contract_id,
               non_billable = EXCLUDED.non_billable, fetched_at = now();
    ELSE
        RAISE EXCEPTION 'unknown reference kind %', p_kind;
    END IF;

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


-- the pull's outcome; its lock is released
CREATE OR REPLACE FUNCTION tracktik_pull_finish(p_pull bigint, p_ok boolean,
                                                p_error text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tracktik_pulls
       SET status = CASE WHEN p_ok THEN 'done' ELSE 'failed' END,
           finished_at = now(), last_error = p_error
     WHERE id = p_pull;
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
