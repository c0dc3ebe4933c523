-- portal_billing.sql: the portal's billing page for the guard company's
-- staff (route `billing`, portal/billing.html): the billing lines and
-- their totals as `tracktik-worker billing list` shows them (the same
-- functions: billing_view.sql).  Operators only: a client's user gets 403
-- (billing lines carry every client's prices).
--
-- Filters (each optional): from/to (service dates, YYYY-MM-DD,
-- inclusive), client, site (ids), code (bill code), state (pending,
-- posted, failed, in_doubt).  A malformed one is a 400 naming it.  At
-- most 5,000 lines, newest service date first ("truncated": true when
-- there are more); the totals always cover every matching line.

CREATE OR REPLACE FUNCTION portal_api_billing(p_token text, p_from text,
    p_to text, p_client text, p_site text, p_code text, p_state text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u         portal_users := portal_session_user(p_token);
    v_from    date;
    v_to      date;
    v_client  bigint;
    v_site    bigint;
    v_code    text := nullif(p_code, '');
    v_state   text := nullif(p_state, '');
    v_items   json;
    v_n       bigint;
    v_totals  json;
    v_bad     text;
    v_refusal portal_answer;
BEGIN
    v_refusal := portal_billing_refusal(u);
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    v_from := portal_billing_day(p_from);
    v_to := portal_billing_day(p_to);
    v_client := portal_billing_id(p_client);
    v_site := portal_billing_id(p_site);

    -- a value given that did not read is the first one named
    v_bad := CASE
        WHEN v_from IS NULL AND nullif(p_from, '') IS NOT NULL
            THEN 'from must be a date YYYY-MM-DD'
        WHEN v_to IS NULL AND nullif(p_to, '') IS NOT NULL
            THEN 'to must be a date YYYY-MM-DD'
        WHEN v_client IS NULL AND nullif(p_client, '') IS NOT NULL
            THEN 'client must be an id'
        WHEN v_site IS NULL AND nullif(p_site, '') IS NOT NULL
            THEN 'site must be an id'
        WHEN length(v_code) > 100
            THEN 'code is at most 100 characters'
        WHEN v_state NOT IN ('pending', 'posted', 'failed', 'in_doubt')
            THEN 'state must be pending, posted, failed or in_doubt'
    END;

    IF v_bad IS NOT NULL THEN
        RETURN portal_bad_filter(u, v_bad);
    END IF;

    SELECT json_agg(json_build_object(
               'id', v.id, 'state', v.state, 'kind', v.kind,
               'service_date', v.service_date, 'client_id', v.client_id,
               'site_id', v.site_id, 'bill_code', v.bill_code,
               'quantity', v.quantity, 'unit_price', v.unit_price,
               'amount', v.amount, 'report_id', v.report_id,
               'ledger_version', v.ledger_version,
               'external_id', v.external_id, 'last_error', v.last_error)
               ORDER BY v.service_date DESC, v.id DESC),
           max(v.n)
      INTO v_items, v_n
      FROM (SELECT b.*, count(*) OVER () AS n
              FROM tracktik_billing_view(v_from, v_to, v_client, v_site,
                                         v_code, v_state) b
             ORDER BY b.service_date DESC, b.id DESC
             LIMIT 5000) v;

    SELECT json_agg(json_build_object(
               'client_id', t.client_id, 'bill_code', t.bill_code,
               'grand_total', t.grand_total, 'lines', t.lines,
               'quantity', t.quantity, 'amount', t.amount,
               'unpriced', t.unpriced))
      INTO v_totals
      FROM tracktik_billing_view_totals(v_from, v_to, v_client, v_site,
                                        v_code, v_state) t;

    RETURN portal_reply(200,
            json_build_object('items', coalesce(v_items, '[]'::json),
                              'totals', coalesce(v_totals, '[]'::json),
                              'matched', coalesce(v_n, 0),
                              'truncated', coalesce(v_n, 0) > 5000)::text,
            u.email, u.client_id, NULL);
END
$$;

-- the answer for a user the billing routes refuse: 401 without a session,
-- 403 for anyone but an operator; a NULL status for an operator
CREATE OR REPLACE FUNCTION portal_billing_refusal(u portal_users)
RETURNS portal_answer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN u.id IS NULL THEN portal_unauthorized()
        WHEN u.role IS DISTINCT FROM 'operator'
            THEN portal_reply(403, '{"error":"billing is for operators only"}',
                              u.email, u.client_id, NULL)
        ELSE (NULL, NULL, NULL, NULL, NULL)::portal_answer
    END
$$;

-- an id written in decimal digits, else NULL
CREATE OR REPLACE FUNCTION portal_billing_id(p text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p ~ '^[1-9][0-9]{0,17}$' THEN p::bigint END
$$;

-- a calendar date written YYYY-MM-DD, else NULL (2026-02-30 too)
CREATE OR REPLACE FUNCTION portal_billing_day(p text)
RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        RETURN NULL;
    END IF;
    RETURN p::date;
EXCEPTION
    WHEN data_exception THEN
        RETURN NULL;
END
$$;

-- POST billing/retry/{id}: a failed line back to pending for the next
-- billing sync (tracktik_billing_retry(), as `tracktik-worker billing
-- retry ID`); operators only.  404 for no such line, 409 when the line is
-- not failed (posted, pending or in doubt: nothing to retry).
CREATE OR REPLACE FUNCTION portal_api_billing_retry(p_token text, p_id text)
RETURNS portal_answer LANGUAGE plpgsql AS $$
DECLARE
    u        portal_users := portal_session_user(p_token);
    v_id     bigint := portal_billing_id(p_id);
    v_state  text;
    v_refusal portal_answer;
BEGIN
    v_refusal := portal_billing_refusal(u);
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    -- never NULL here: tracktik_billing_retry(NULL) retries every line
    IF v_id IS NULL THEN
        RETURN portal_reply(404, '{"error":"not found"}', u.email,
                            u.client_id, NULL);
    END IF;

    IF EXISTS (SELECT 1 FROM tracktik_billing_retry(v_id)) THEN
        RETURN portal_reply(200, json_build_object('requeued', v_id)::text,
                            u.email, u.client_id, NULL);
    END IF;

    SELECT v.state INTO v_state
      FROM tracktik_billing_view(NULL, NULL, NULL, NULL, NULL, NULL) v
     WHERE v.id = v_id;

    IF v_state IS NULL THEN
        RETURN portal_reply(404, '{"error":"not found"}', u.email,
                            u.client_id, NULL);
    END IF;

    RETURN portal_reply(409, json_build_object('error', 'billing line '
                            || v_id || ' is ' || v_state
                            || ', not failed: nothing to retry')::text,
                        u.email, u.client_id, NULL);
END
$$;
