-- billing_view.sql: the billing staff's view of billing_lines
-- (`tracktik-worker billing list|retry`; the portal's operator page
-- reads the same functions).
--
-- A line's state as staff see it: pending, posted, failed, or in_doubt (a
-- pending line whose last POST got no answer: TrackTik may hold it, and
-- the next sync looks it up before posting again;
-- migrations/005_tracktik_api.sql).  The price is the line's own, else
-- the bill item's default price, as the billing sync posts it
-- (src/worker/billing_refs.c); amount = quantity * price, NULL while
-- neither is known.  Filters may be NULL: from/to bound service_date
-- (inclusive).

CREATE OR REPLACE FUNCTION tracktik_billing_view(p_from date, p_to date,
    p_client bigint, p_site bigint, p_code text, p_state text)
RETURNS TABLE (id bigint, state text, kind text, service_date date,
               client_id bigint, site_id bigint, bill_code text,
               quantity numeric, unit_price numeric, amount numeric,
               report_id bigint, ledger_version integer,
               external_id text, last_error text)
LANGUAGE sql STABLE AS $$
    SELECT b.id, s.state, b.kind, b.service_date, b.client_id, b.site_id,
           b.bill_code, b.quantity, p.price, b.quantity * p.price,
           b.report_id, b.ledger_version, b.external_id, b.last_error
      FROM billing_lines b
      LEFT JOIN tracktik_billing_attempts a ON a.line_id = b.id
      LEFT JOIN tracktik_bill_items i ON i.bill_code = b.bill_code,
           LATERAL (SELECT CASE WHEN b.state = 'pending'
                                     AND coalesce(a.in_doubt, false)
                                THEN 'in_doubt' ELSE b.state END AS state)
               s,
           LATERAL (SELECT coalesce(b.unit_price, i.default_price) AS price)
               p
     WHERE (p_from IS NULL OR b.service_date >= p_from)
       AND (p_to IS NULL OR b.service_date <= p_to)
       AND (p_client IS NULL OR b.client_id = p_client)
       AND (p_site IS NULL OR b.site_id = p_site)
       AND (p_code IS NULL OR b.bill_code = p_code)
       AND (p_state IS NULL OR s.state = p_state)
$$;

-- totals of the lines above per client and bill code, per client
-- (bill_code NULL) and overall (both NULL; grand_total true); unpriced:
-- lines whose amount is not known yet (left out of amount)
CREATE OR REPLACE FUNCTION tracktik_billing_view_totals(p_from date,
    p_to date, p_client bigint, p_site bigint, p_code text, p_state text)
RETURNS TABLE (client_id bigint, bill_code text, grand_total boolean,
               lines bigint, quantity numeric, amount numeric,
               unpriced bigint)
LANGUAGE sql STABLE AS $$
    SELECT v.client_id, v.bill_code, grouping(v.client_id) = 1,
           count(*), sum(v.quantity), coalesce(sum(v.amount), 0),
           count(*) FILTER (WHERE v.amount IS NULL)
      FROM tracktik_billing_view(p_from, p_to, p_client, p_site, p_code,
                                 p_state) v
     GROUP BY GROUPING SETS ((v.client_id, v.bill_code), (v.client_id), ())
     ORDER BY grouping(v.client_id), v.client_id NULLS LAST,
              grouping(v.bill_code), v.bill_code
$$;

-- billing retry: failed lines back to pending for the billing sync (one,
-- or every failed line when p_id is NULL); last_error stays until the
-- next attempt says otherwise.  Returns the ids requeued.
CREATE OR REPLACE FUNCTION tracktik_billing_retry(p_id bigint)
RETURNS SETOF bigint LANGUAGE sql AS $$
    UPDATE billing_lines b
       SET state = 'pending'
     WHERE b.state = 'failed'
       AND (p_id IS NULL OR b.id = p_id)
    RETURNING b.id
$$;
