-- ledger_chain.sql: the check of the ledger's hash chain
-- (migrations/018_ledger_chain.sql, doc/ledger-chain.md) that
-- `tracktik-worker audit --verify-chain` runs.
--
-- tracktik_ledger_chain_verify(from, to) walks the rows in chain_seq
-- order (a cursor: streamed, whatever the ledger's size) and recomputes
-- each link from the stored hash of the row before it, so each problem is
-- named where it is:
--   'missing'  chain_seq jumps: rows were removed (expected: the first
--              missing chain_seq, found: the chain_seq that came next)
--   'hash'     the row's hash is not sha256(previous hash || its
--              content): this row was altered, or the row before it is
--              not the one it was chained to (a forged or removed row)
--   'head'     (whole chain only) the chain does not end where the head
--              row says it does: the last rows were removed
-- at most p_max of them (the walk goes on counting), then one last row,
-- problem 'end': chain_seq and found = the last row checked and its hash
-- (hex), expected = the number of rows checked, total = the number of
-- problems found.
-- from/to (either may be NULL): only the rows recorded in [from, to),
-- the first of them linked to the stored hash of the row before it.

CREATE OR REPLACE FUNCTION tracktik_ledger_chain_verify(p_from timestamptz,
    p_to timestamptz, p_max integer)
RETURNS TABLE (chain_seq bigint, ledger_id bigint, problem text,
               expected text, found text, total bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    v_zero       bytea := decode(repeat('00', 32), 'hex');
    v_lo         bigint := 1;
    v_hi         bigint;
    v_prev_seq   bigint := 0;
    v_prev_hash  bytea := decode(repeat('00', 32), 'hex');
    v_want       bytea;
    v_n          bigint := 0;
    v_bad        bigint := 0;
    v_row        incidents_ledger;
    v_head       incidents_ledger_chain_head;
BEGIN
    IF p_from IS NOT NULL THEN
        SELECT min(l.chain_seq) INTO v_lo
          FROM incidents_ledger l
         WHERE l.recorded_at >= p_from;

        SELECT l.chain_seq, l.row_hash INTO v_prev_seq, v_prev_hash
          FROM incidents_ledger l
         WHERE l.chain_seq < v_lo
         ORDER BY l.chain_seq DESC
         LIMIT 1;

        IF NOT FOUND THEN
            v_prev_seq := 0;
            v_prev_hash := v_zero;
        END IF;
    END IF;

    IF p_to IS NOT NULL THEN
        SELECT max(l.chain_seq) INTO v_hi
          FROM incidents_ledger l
         WHERE l.recorded_at < p_to;
    END IF;

    FOR v_row IN
        SELECT * FROM incidents_ledger l
         WHERE l.chain_seq >= v_lo
           AND (p_to IS NULL OR l.chain_seq <= v_hi)
         ORDER BY l.chain_seq
    LOOP
        v_n := v_n + 1;

        IF v_row.chain_seq <> v_prev_seq + 1 THEN
            v_bad := v_bad + 1;
            RETURN QUERY SELECT v_prev_seq + 1, v_row.id, 'missing'::text,
                                (v_prev_seq + 1)::text,
                                v_row.chain_seq::text, NULL::bigint
                          WHERE v_bad <= p_max;
        END IF;

        v_want := sha256(v_prev_hash
                         || tracktik_ledger_canonical(v_row,
                                                      v_row.chain_seq));
        IF v_want IS DISTINCT FROM v_row.row_hash THEN
            v_bad := v_bad + 1;
            RETURN QUERY SELECT v_row.chain_seq, v_row.id, 'hash'::text,
                                encode(v_want, 'hex'),
                                encode(v_row.row_hash, 'hex'), NULL::bigint
                          WHERE v_bad <= p_max;
        END IF;

        v_prev_seq := v_row.chain_seq;
        v_prev_hash := v_row.row_hash;
    END LOOP;

    IF p_to IS NULL THEN
        SELECT * INTO v_head FROM incidents_ledger_chain_head;

        IF v_head.seq IS DISTINCT FROM v_prev_seq
           OR v_head.row_hash IS DISTINCT FROM v_prev_hash
        THEN
            v_bad := v_bad + 1;
            RETURN QUERY SELECT v_head.seq, NULL::bigint, 'head'::text,
                                v_head.seq || ':'
                                    || encode(v_head.row_hash, 'hex'),
                                v_prev_seq || ':'
                                    || encode(v_prev_hash, 'hex'),
                                NULL::bigint
                          WHERE v_bad <= p_max;
        END IF;
    END IF;

    RETURN QUERY SELECT v_prev_seq, NULL::bigint, 'end'::text, v_n::text,
                        encode(v_prev_hash, 'hex'), v_bad;
END
$$;
