-- portal_audit.sql: the latest scheduled audit for the guard company's
-- staff (routes `audit` and `audit.csv`, portal/audit.html): its counts
-- per kind and its CSV (tracktik_audit_runs, written by the schedule:
-- audit.sql, doc/audit.md).  Operators only, as billing
-- (portal_billing_refusal(): a client's user gets 403).

-- {"audit": null} before the first scheduled audit
CREATE OR REPLACE FUNCTION portal_api_audit_latest(p_token text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer;
    v_body     json;
BEGIN
    v_refusal := portal_billing_refusal(u);
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    SELECT json_build_object(
               'id', a.id, 'pull_id', a.pull_id, 'source', a.source,
               'from', tracktik_audit_time(a.period_from),
               'to', tracktik_audit_time(a.period_to),
               'created_at', tracktik_audit_time(a.created_at),
               'agrees', a.agrees, 'ledger_reports', a.ledger_reports,
               'source_reports', a.source_reports,
               'pending', a.pending,
               -- the pull listed, and the audit compared, only the
               -- reports updated since then (NULL: the whole window)
               'updated_since', tracktik_audit_time(a.updated_since),
               'counts', json_build_object(
                   'missing_from_ledger', a.missing_from_ledger,
                   'missing_from_source', a.missing_from_source,
                   'changed', a.changed,
                   'billing_without_report', a.billing_without_report,
                   'should_have_billed', a.should_have_billed),
               'csv_bytes', octet_length(a.csv))
      INTO v_body
      FROM tracktik_audit_runs a
     ORDER BY a.id DESC
     LIMIT 1;

    RETURN portal_reply(200, json_build_object('audit', v_body)::text,
                        u.email, u.client_id, NULL);
END
$$;

-- the latest audit's audit.csv, whole (one page: the cursor is unused);
-- 404 before the first audit
CREATE OR REPLACE FUNCTION portal_api_audit_csv(p_token text,
    p_cursor text)
RETURNS portal_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    u          portal_users := portal_session_user(p_token);
    v_refusal  portal_answer;
    v_csv      text;
BEGIN
    v_refusal := portal_billing_refusal(u);
    IF v_refusal.status IS NOT NULL THEN
        RETURN v_refusal;
    END IF;

    SELECT a.csv INTO v_csv
      FROM tracktik_audit_runs a
     ORDER BY a.id DESC
     LIMIT 1;

    IF v_csv IS NULL THEN
        RETURN portal_reply(404, '{"error":"no audit yet"}', u.email,
                            u.client_id, NULL);
    END IF;

    RETURN portal_reply(200, v_csv, u.email, u.client_id, NULL);
END
$$;
