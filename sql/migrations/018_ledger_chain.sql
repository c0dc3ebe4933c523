-- 018_ledger_chain: tamper evidence.  Every ledger row carries row_hash =
-- sha256(previous row's row_hash || canonical content of the row), the
-- rows ordered by chain_seq (1, 2, 3 ... without gaps; the first row's
-- previous hash is 32 zero bytes).  Canonical content and the
-- auditor's recipe: doc/ledger-chain.md; the functions:
-- sql/functions/triggers.sql (tracktik_ledger_canonical(), the
-- triggers) and sql/functions/ledger_chain.sql (the check that
-- `tracktik-worker audit --verify-chain` runs).
--
-- The database keeps the chain on every insert, whoever inserts: a
-- BEFORE INSERT trigger extends it under the lock of the one head row
-- (so concurrent writers take turns and chain_seq follows commit order),
-- and an AFTER statement trigger moves the head.  The head also tells a
-- removed last row from a chain that simply ends there.
--
-- The owner can still disable triggers and rewrite rows; what the chain
-- gives is that such a rewrite shows: an altered row no longer matches
-- its hash, a removed one leaves a gap in chain_seq and a broken link,
-- a forged one breaks the link of the row after it.  Rewriting the whole
-- chain from the forgery on is caught only against a head hash recorded
-- outside the database (`audit --verify-chain` prints it; the auditor's
-- archive keeps it).

CREATE TABLE incidents_ledger_chain_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq       bigint NOT NULL CHECK (seq >= 0),
    row_hash  bytea NOT NULL CHECK (octet_length(row_hash) = 32)
);

REVOKE ALL ON incidents_ledger_chain_head FROM PUBLIC;

ALTER TABLE incidents_ledger ADD COLUMN chain_seq bigint,
                             ADD COLUMN row_hash bytea;

-- the existing rows, chained in id order (the order they were numbered
-- in; nothing better is known of them).  No writer may insert meanwhile,
-- and the append-only trigger is set aside for this one rewrite, inside
-- this migration's transaction.
LOCK TABLE incidents_ledger IN EXCLUSIVE MODE;

ALTER TABLE incidents_ledger DISABLE TRIGGER incidents_ledger_no_update_delete;

DO $$
DECLARE
    v_row   incidents_ledger;
    v_seq   bigint := 0;
    v_hash  bytea := decode(repeat('00', 32), 'hex');
BEGIN
    CREATE TEMPORARY TABLE ledger_chain_backfill (
        id bigint PRIMARY KEY, chain_seq bigint, row_hash bytea
    ) ON COMMIT DROP;

    FOR v_row IN SELECT * FROM incidents_ledger ORDER BY id LOOP
        v_seq := v_seq + 1;
        v_hash := sha256(v_hash || tracktik_ledger_canonical(v_row, v_seq));
        INSERT INTO ledger_chain_backfill VALUES (v_row.id, v_seq, v_hash);
    END LOOP;

    UPDATE incidents_ledger l
       SET chain_seq = b.chain_seq, row_hash = b.row_hash
      FROM ledger_chain_backfill b
     WHERE b.id = l.id;

    INSERT INTO incidents_ledger_chain_head (seq, row_hash)
    VALUES (v_seq, v_hash);
END
$$;

ALTER TABLE incidents_ledger ENABLE TRIGGER incidents_ledger_no_update_delete;

ALTER TABLE incidents_ledger ALTER COLUMN chain_seq SET NOT NULL,
                             ALTER COLUMN row_hash SET NOT NULL,
                             ADD CONSTRAINT incidents_ledger_chain_seq_key
                                 UNIQUE (chain_seq);

-- chain_seq and row_hash are set here, whatever the inserter gave
-- (incidents_ledger_chain_row(), incidents_ledger_chain_save():
-- sql/functions/triggers.sql)
CREATE TRIGGER incidents_ledger_chain
    BEFORE INSERT ON incidents_ledger
    FOR EACH ROW EXECUTE FUNCTION incidents_ledger_chain_row();

CREATE TRIGGER incidents_ledger_chain_head
    AFTER INSERT ON incidents_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_ledger_chain_save();
