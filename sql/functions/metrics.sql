-- metrics.sql: what the nginx module's tracktik_metrics and
-- tracktik_health locations ask PostgreSQL (doc/metrics.md).
--
-- tracktik_schema_version(): the number of the newest applied migration;
--   the module's health check compares it with TT_SCHEMA_VERSION
--   (src/common/tt_version.h), as the worker's own check may.
-- tracktik_metrics_gauges(): one row per Prometheus sample (name, labels
--   already written as name="value" pairs, value, help), the rows of one
--   name together.  One call per scrape, so it stays cheap: counts over
--   small tables (the job queue) or partial indexes (billing lines), and
--   one count of the ledger.
--
-- Both run as their owner (SECURITY DEFINER) with a fixed search_path, so
-- the login role a scrape or a health check uses needs EXECUTE on them
-- and nothing on the tables.  Tables other parts of the project add
-- later (scheduled pulls, notifications) are looked up with to_regclass():
-- while one does not exist, its gauge is left out rather than failing the
-- scrape.

CREATE OR REPLACE FUNCTION tracktik_schema_version()
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(max(substring(filename FROM '^([0-9]+)_')::integer), 0)
      FROM tracktik_schema_migrations
$$;


-- a Prometheus label: name="value", the value escaped as the text
-- format wants (backslash, double quote, line feed)
CREATE OR REPLACE FUNCTION tracktik_metrics_label(p_name text, p_value text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT p_name || '="'
           || replace(replace(replace(coalesce(p_value, ''), '\', '\\'),
                              '"', '\"'), E'\n', '\n')
           || '"'
$$;


-- seconds since p_since, 0 for NULL (nothing waiting)
CREATE OR REPLACE FUNCTION tracktik_metrics_age(p_since timestamptz)
RETURNS double precision
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(extract(epoch FROM now() - p_since), 0)::double precision
$$;


CREATE OR REPLACE FUNCTION tracktik_metrics_gauges()
RETURNS TABLE (name text, labels text, value double precision, help text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT 'tracktik_schema_version'::text, ''::text,
        tracktik_schema_version()::double precision,
        'the newest migration applied to the database'::text;

    -- every state appears, 0 when it has no job
    RETURN QUERY
    SELECT 'tracktik_jobs', tracktik_metrics_label('state', s.state),
           count(j.id)::double precision,
           'jobs in the queue, by state (done jobs leave it)'
      FROM unnest(ARRAY['queued', 'running', 'dead']) AS s(state)
      LEFT JOIN tracktik_jobs j ON j.state = s.state
     GROUP BY s.state
     ORDER BY s.state;

    RETURN QUERY
    SELECT 'tracktik_jobs_oldest_queued_seconds', '',
           tracktik_metrics_age(min(j.received_at)),
           'age of the oldest queued job, 0 when none is queued'
      FROM tracktik_jobs j
     WHERE j.state = 'queued';

    RETURN QUERY
    SELECT 'tracktik_dead_letters_waiting', '',
           count(*)::double precision,
           'signed deliveries PostgreSQL refused, not yet replayed'
      FROM tracktik_dead_letters d
     WHERE d.replayed_at IS NULL;

    -- a count per state, each on its own: pending and failed through
    -- their partial indexes rather than one scan of every line
    RETURN QUERY
    SELECT 'tracktik_billing_lines', tracktik_metrics_label('state', s.state),
           (CASE s.state
            WHEN 'pending' THEN (SELECT count(*) FROM billing_lines b
                                  WHERE b.state = 'pending')
            WHEN 'failed' THEN (SELECT count(*) FROM billing_lines b
                                 WHERE b.state = 'failed')
            ELSE (SELECT count(*) FROM billing_lines b
                   WHERE b.state = 'posted')
            END)::double precision,
           'billing lines, by posting state'
      FROM unnest(ARRAY['failed', 'pending', 'posted']) AS s(state);

    RETURN QUERY
    SELECT 'tracktik_billing_oldest_pending_seconds', '',
           tracktik_metrics_age(min(b.created_at)),
           'age of the oldest billing line not yet posted, 0 when none'
      FROM billing_lines b
     WHERE b.state = 'pending';

    RETURN QUERY
    SELECT 'tracktik_billing_in_doubt', '', count(*)::double precision,
           'billing posts whose answer was lost, to be looked up'
      FROM tracktik_billing_attempts a
     WHERE a.in_doubt;

    -- one row per TrackTik tenant the worker has logged in to
    RETURN QUERY
    SELECT 'tracktik_oauth_session_ok',
           tracktik_metrics_label('base_url', o.base_url),
           (o.access_token IS NOT NULL
            AND o.needs_login_since IS NULL)::integer::double precision,
           '1 while the worker holds a usable OAuth session'
      FROM tracktik_oauth o
     ORDER BY o.base_url;

    RETURN QUERY
    SELECT 'tracktik_oauth_needs_login_seconds',
           tracktik_metrics_label('base_url', o.base_url),
           tracktik_metrics_age(o.needs_login_since),
           'how long the session has needed a new login (invalid_grant), '
           || '0 when it does not'
      FROM tracktik_oauth o
     ORDER BY o.base_url;

    RETURN QUERY
    SELECT 'tracktik_oauth_access_expires_seconds',
           tracktik_metrics_label('base_url', o.base_url),
           coalesce(extract(epoch FROM o.access_expires_at - now()),
                    'NaN')::double precision,
           'seconds until the access token expires (negative: expired)'
      FROM tracktik_oauth o
     ORDER BY o.base_url;

    RETURN QUERY
    SELECT 'tracktik_ledger_rows', '', count(*)::double precision,
           'versions of reports in the incident ledger'
      FROM incidents_ledger;

    -- scheduled and manual pulls (migration 016): the newest that
    -- finished well, 0 for a kind never run; left out before 016, and
    -- if the table ever changes shape (a scrape must not fail for it)
    IF to_regclass('tracktik_pulls') IS NOT NULL THEN
        BEGIN
            RETURN QUERY
            SELECT 'tracktik_pull_last_success_timestamp_seconds',
                   tracktik_metrics_label('kind', k.kind),
                   coalesce((SELECT extract(epoch FROM max(p.finished_at))
                               FROM tracktik_pulls p
                              WHERE p.kind = k.kind AND p.status = 'done'),
                            0)::double precision,
                   'when the newest successful pull finished, 0 never'
              FROM unnest(ARRAY['manual', 'scheduled']) AS k(kind);
        EXCEPTION WHEN undefined_column OR undefined_table THEN
            NULL;
        END;
    END IF;

    -- the notification outbox (migration 015): what waits to be sent,
    -- since when, and what has given up
    IF to_regclass('notifications') IS NOT NULL THEN
        BEGIN
            RETURN QUERY
            SELECT 'tracktik_notifications_backlog', '',
                   count(*)::double precision,
                   'notifications waiting to be sent or being sent'
              FROM notifications n
             WHERE n.state IN ('pending', 'sending');

            RETURN QUERY
            SELECT 'tracktik_notifications_oldest_pending_seconds', '',
                   tracktik_metrics_age(min(n.created_at)),
                   'age of the oldest notification not yet sent, 0 when none'
              FROM notifications n
             WHERE n.state IN ('pending', 'sending');

            RETURN QUERY
            SELECT 'tracktik_notifications_dead', '',
                   count(*)::double precision,
                   'notifications that used up their attempts'
              FROM notifications n
             WHERE n.state = 'dead';
        EXCEPTION WHEN undefined_column OR undefined_table THEN
            NULL;
        END;
    END IF;
END
$$;
