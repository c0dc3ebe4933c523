-- api.sql: the TrackTik API request budget shared by every worker
-- (tracktik_api_budget, migrations/005_tracktik_api.sql).

-- takes one request from the tenant's bucket (p_per_minute requests a
-- minute, at most p_burst at once): 0 when granted, else the seconds to
-- wait before asking again
CREATE OR REPLACE FUNCTION tracktik_api_take(
    p_url text, p_per_minute double precision, p_burst double precision)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    b    tracktik_api_budget;
    now  timestamptz := clock_timestamp();
    t    double precision;
BEGIN
    INSERT INTO tracktik_api_budget (base_url, tokens, updated_at)
    VALUES (p_url, p_burst, now)
    ON CONFLICT (base_url) DO NOTHING;

    SELECT * INTO b FROM tracktik_api_budget
     WHERE base_url = p_url FOR UPDATE;

    IF b.not_before > now THEN
        RETURN extract(epoch FROM b.not_before - now);
    END IF;

    t := least(p_burst, b.tokens + extract(epoch FROM now - b.updated_at)
                                   * p_per_minute / 60.0);

    IF t >= 1 THEN
        UPDATE tracktik_api_budget SET tokens = t - 1, updated_at = now
         WHERE base_url = p_url;
        RETURN 0;
    END IF;

    UPDATE tracktik_api_budget SET tokens = t, updated_at = now
     WHERE base_url = p_url;
    RETURN (1 - t) * 60.0 / p_per_minute;
END
$$;

-- a 429 said "not before p_seconds from now": every worker waits
CREATE OR REPLACE FUNCTION tracktik_api_defer(
    p_url text, p_seconds double precision)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tracktik_api_budget (base_url, tokens, updated_at, not_before)
    VALUES (p_url, 0, clock_timestamp(),
            clock_timestamp() + make_interval(secs => p_seconds))
    ON CONFLICT (base_url) DO UPDATE
       SET not_before = greatest(tracktik_api_budget.not_before,
                                 EXCLUDED.not_before);
$$;
