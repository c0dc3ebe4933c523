#!/usr/bin/perl
# The ledger's hash chain (migrations/018_ledger_chain.sql,
# doc/ledger-chain.md): rows the migration found are chained in id order,
# every row jobs add (also by two workers at once) extends the chain, and
# `audit --verify-chain` catches what the table's owner can still do with
# the triggers disabled: an altered row, a removed row (in the middle or
# the last one), a forged row with a correctly recomputed hash.  A clean
# ledger verifies with exit 0.  The documented recipe is recomputed here
# independently, in Perl.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256 sha256_hex);
use Encode qw(encode_utf8);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use TTWorker;

# the schema as it was before 018: every migration but 018 (later ones
# alter tables the live functions use), the functions but the chain
# check and the archive's (which read the chain's columns)
my $old = tempdir(CLEANUP => 1);
make_path("$old/migrations", "$old/functions");
my $sql = TTWorker::repo() . '/sql';
for my $f (glob("$sql/migrations/*.sql")) {
    my ($n) = $f =~ m{/(\d+)_[^/]+$};
    copy($f, "$old/migrations/") if $n != 18;
}
for my $f (glob("$sql/functions/*.sql")) {
    copy($f, "$old/functions/")
        unless $f =~ m{/(?:ledger_chain|portal_archive)\.sql$};
}

my $t = TTWorker->new('chain', '--sql-dir', $old);
# the worker refuses a schema older than it was built for: 018 is
# recorded (not applied) while the old ledger is written, and forgotten
# before the real migrate below
my $pretend = "INSERT INTO tracktik_schema_migrations (filename, checksum)"
            . " VALUES ('018_ledger_chain.sql', 'not applied')";
$t->rows($pretend);
$t->load_contracts;

sub verify {
    my ($rc, $out, $err) = $t->worker('audit', '--verify-chain', @_);
    return ($rc, $out . $err);
}

# reports the contract does not bill (so a row can be removed: a billed
# row is held by its billing lines' foreign key)
sub patrol {
    my ($id, %o) = @_;
    return report_json(id => $id, category => 'Patrol', severity => 'LOW',
                       %o);
}

subtest 'the migration chains the rows already there, in id order' => sub {
    $t->enqueue(map { [ "old-$_", report_json(id => 100 + $_) ] } 1 .. 20);
    $t->enqueue(map { [ "oldp-$_", patrol(200 + $_) ] } 1 .. 10);
    my ($rc, $log) = $t->drain('--batch-size', '7');
    is $rc, 0, 'the worker recorded them' or diag $log;
    ok !$t->value("SELECT count(*) FROM information_schema.columns"
                  . " WHERE table_name = 'incidents_ledger'"
                  . " AND column_name = 'row_hash'"), 'no chain yet';

    $t->rows("DELETE FROM tracktik_schema_migrations"
           . " WHERE checksum = 'not applied'");
    my ($mrc, $out, $err) = $t->worker('migrate');
    is $mrc, 0, 'migrate applies 018' or diag $err;
    like $out, qr/018_ledger_chain\.sql: applied/, 'named';
    is $t->value("SELECT count(*) FROM incidents_ledger"
                 . " WHERE chain_seq = (SELECT count(*) FROM incidents_ledger i"
                 . "                     WHERE i.id <= incidents_ledger.id)"),
        30, 'chain_seq 1..30 in id order';
    is $t->value("SELECT seq FROM incidents_ledger_chain_head"), 30,
        'the head is the last row';

    ($rc, $out) = verify();
    is $rc, 0, 'verifies' or diag $out;
    like $out, qr/ledger chain intact: 30 rows verified, up to chain_seq 30/,
        'says so';
};

# the documented recipe (doc/ledger-chain.md), written again here
sub utc {
    my ($ts) = @_;
    return undef unless defined $ts;
    my ($d, $t, $f) = $ts =~ /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))?$/
        or die "timestamp $ts";
    return "${d}T$t." . substr(($f // '') . '000000', 0, 6) . 'Z';
}

sub recompute {
    my ($seq) = @_;
    my $null = "\x01";
    my @cols = qw(id chain_seq event_id report_id version occurred_at
                  client_id site_id severity category category_id
                  report_template report_template_id status time_zone
                  updated_on raw raw_sha256 job_id recorded_at);
    my %utc = map { $_ => 1 } qw(occurred_at updated_on recorded_at);
    my @v;
    for my $c (@cols) {
        my $expr = $utc{$c} ? "($c AT TIME ZONE 'UTC')::text" : "${c}::text";
        my $v = $t->value("SELECT coalesce($expr, E'\\x01')"
                          . " FROM incidents_ledger WHERE chain_seq = $seq");
        $v = undef if $v eq $null;
        $v = utc($v) if $utc{$c};
        push @v, $v;
    }
    my $content = "tracktik-ledger-chain-v1\n";
    for my $v (@v) {
        if (!defined $v) {
            $content .= '-';
        } else {
            my $b = encode_utf8($v);
            $content .= length($b) . ':' . $b;
        }
    }
    my $prev = $seq == 1 ? "\0" x 32
             : pack('H*', $t->value("SELECT encode(row_hash, 'hex')"
                  . " FROM incidents_ledger WHERE chain_seq = $seq - 1"));
    return sha256_hex($prev . $content);
}

subtest 'jobs extend the chain; the recipe recomputes it' => sub {
    $t->enqueue(map { [ "new-$_", patrol(300 + $_) ] } 1 .. 40);
    # new versions of reports the migration chained
    $t->enqueue(map { [ "upd-$_", report_json(id => 100 + $_, comment => 'v2',
                                    updatedOn => '2026-03-05T00:00:00Z') ] }
                1 .. 10);
    my ($rc, $log) = $t->drain('--batch-size', '9');
    is $rc, 0, 'drained' or diag $log;
    is $t->value("SELECT count(*) FROM incidents_ledger"), 80, '80 rows';
    is $t->value("SELECT max(chain_seq) = count(*) AND min(chain_seq) = 1"
                 . " FROM incidents_ledger"), 't', 'chain_seq 1..80';
    is $t->value("SELECT h.seq = l.chain_seq AND h.row_hash = l.row_hash"
                 . " FROM incidents_ledger_chain_head h, incidents_ledger l"
                 . " WHERE l.chain_seq = 80"), 't', 'the head is row 80';

    for my $seq (1, 31, 75, 80) {
        is recompute($seq), $t->value("SELECT encode(row_hash, 'hex')"
                                      . " FROM incidents_ledger"
                                      . " WHERE chain_seq = $seq"),
            "row $seq: sha256(previous hash || canonical content)";
    }

    my $out;
    ($rc, $out) = verify();
    is $rc, 0, 'verifies' or diag $out;
    like $out, qr/80 rows verified/, 'all of them';
};

subtest 'the database sets the chain, whatever the inserter says' => sub {
    $t->rows("INSERT INTO tracktik_jobs (dedupe_key, payload) VALUES"
             . " ('direct', " . $t->quote(json_encode(patrol(999))) . ")");
    my $job = $t->value("SELECT id FROM tracktik_jobs WHERE dedupe_key = 'direct'");
    $t->rows("INSERT INTO incidents_ledger (event_id, report_id, version,"
             . " occurred_at, time_zone, raw, raw_sha256, job_id, chain_seq,"
             . " row_hash) SELECT 'direct', 999, 1, now(), 'UTC', payload,"
             . " 'x', id, 5, '\\x00' FROM tracktik_jobs WHERE id = $job");
    $t->rows("DELETE FROM tracktik_jobs WHERE id = $job");
    is $t->value("SELECT chain_seq FROM incidents_ledger WHERE event_id = 'direct'"),
        81, 'chain_seq 81, not the 5 it was given';
    my ($rc, $out) = verify();
    is $rc, 0, 'verifies' or diag $out;
};

subtest 'two workers at once still build one valid chain' => sub {
    $t->enqueue(map { [ "c-$_", ($_ % 3 ? patrol(10000 + $_)
                                        : report_json(id => 10000 + $_)) ] }
                1 .. 600);
    # the per-job lines (level debug) say which worker did which job
    my @w = map { $t->spawn('--drain', '--batch-size', '25',
                            '--job-delay-ms', '2', '--log-level', 'debug') }
            1 .. 2;
    is $t->reap($_), 0, "worker $_->{pid} exits 0" for @w;
    my @share = map { scalar(() = $t->log_of($_) =~ /outcome=done/g) } @w;
    ok $share[0] > 0 && $share[1] > 0, "both took part (@share)";
    is $t->value("SELECT count(*) FROM incidents_ledger"), 681, '681 rows';
    is $t->value("SELECT max(chain_seq) FROM incidents_ledger"), 681,
        'chain_seq without gaps';
    my ($rc, $out) = verify();
    is $rc, 0, 'verifies' or diag $out;
};

# runs SQL as the owner with the ledger's triggers disabled
sub tamper {
    my ($sql) = @_;
    $t->rows("BEGIN; ALTER TABLE incidents_ledger DISABLE TRIGGER USER;"
             . " $sql; ALTER TABLE incidents_ledger ENABLE TRIGGER USER;"
             . " COMMIT;");
}

# an unbilled row in the middle of the chain
my $mid = $t->value("SELECT min(l.chain_seq) FROM incidents_ledger l"
                    . " WHERE l.chain_seq > 300 AND NOT EXISTS"
                    . " (SELECT 1 FROM billing_lines b WHERE b.ledger_id = l.id)");
my $mid_id = $t->value("SELECT id FROM incidents_ledger WHERE chain_seq = $mid");

subtest 'an altered row is caught' => sub {
    my $sev = $t->value("SELECT severity FROM incidents_ledger WHERE id = $mid_id");
    tamper("UPDATE incidents_ledger SET severity = 'SEVERE' WHERE id = $mid_id");
    my ($rc, $out) = verify();
    is $rc, 3, 'exit 3';
    like $out, qr/ledger chain BROKEN: 1 problems/, 'one problem';
    like $out, qr/broken link at row id $mid_id \(chain_seq $mid\).*expected hash [0-9a-f]{64}, found [0-9a-f]{64}/,
        'names the row, expected and found';

    # the raw entity altered (a key added), its stored sha256 left
    tamper("UPDATE incidents_ledger SET severity = " . $t->quote($sev)
           . ", raw = raw || '{\"note\": 1}' WHERE id = $mid_id");
    ($rc, $out) = verify();
    like $out, qr/broken link at row id $mid_id /, 'so is an altered raw';

    tamper("UPDATE incidents_ledger SET raw = raw - 'note' WHERE id = $mid_id");
    ($rc, $out) = verify();
    is $rc, 0, 'put back as it was: verifies again' or diag $out;
};

subtest 'a removed row is caught' => sub {
    tamper("CREATE TABLE saved AS SELECT * FROM incidents_ledger WHERE id = $mid_id;"
           . " DELETE FROM incidents_ledger WHERE id = $mid_id");
    my ($rc, $out) = verify();
    is $rc, 3, 'exit 3';
    my $next = $mid + 1;
    like $out, qr/the first broken link:\n  removed rows: chain_seq $mid is missing/,
        'the gap comes first';
    like $out, qr/broken link at row id \d+ \(chain_seq $next\)/,
        'and the next row no longer links';

    tamper("INSERT INTO incidents_ledger OVERRIDING SYSTEM VALUE"
           . " SELECT * FROM saved; DROP TABLE saved");
    ($rc, $out) = verify();
    is $rc, 0, 'put back: verifies again' or diag $out;
};

subtest 'a removed last row is caught by the head' => sub {
    tamper("INSERT INTO tracktik_jobs (dedupe_key, payload) VALUES ('last', "
           . $t->quote(json_encode(patrol(777))) . ")");
    my ($rc, $log) = $t->drain;
    my $last = $t->value("SELECT max(chain_seq) FROM incidents_ledger");
    is $t->value("SELECT report_id FROM incidents_ledger WHERE chain_seq = $last"),
        777, 'the last row is an unbilled report';
    tamper("CREATE TABLE saved AS SELECT * FROM incidents_ledger"
           . " WHERE chain_seq = $last;"
           . " DELETE FROM incidents_ledger WHERE chain_seq = $last");
    my $out;
    ($rc, $out) = verify();
    is $rc, 3, 'exit 3';
    like $out, qr/chain ends before its head: the last rows were removed \(head $last:/,
        'says the end is gone';
    tamper("INSERT INTO incidents_ledger OVERRIDING SYSTEM VALUE"
           . " SELECT * FROM saved; DROP TABLE saved");
    ($rc, $out) = verify();
    is $rc, 0, 'put back: verifies again' or diag $out;
};

subtest 'a forged row with a recomputed hash is caught at the next row' => sub {
    my $after = $t->value("SELECT id FROM incidents_ledger"
                          . " WHERE chain_seq = $mid + 1");
    # room after row $mid, then a row whose hash links to row $mid
    # exactly as the trigger would have made it
    tamper("UPDATE incidents_ledger SET chain_seq = -chain_seq - 1"
           . " WHERE chain_seq > $mid;"
           . " UPDATE incidents_ledger SET chain_seq = -chain_seq"
           . " WHERE chain_seq < 0;"
           . " CREATE TABLE forged AS SELECT * FROM incidents_ledger"
           . " WHERE id = $mid_id;"
           . " UPDATE forged SET id = 900000, event_id = 'forged',"
           . " report_id = 900000, chain_seq = $mid + 1;"
           . " UPDATE forged f SET row_hash = sha256(p.row_hash"
           . " || tracktik_ledger_canonical(f, f.chain_seq))"
           . " FROM incidents_ledger p WHERE p.chain_seq = $mid;"
           . " INSERT INTO incidents_ledger OVERRIDING SYSTEM VALUE"
           . " SELECT * FROM forged");
    my ($rc, $out) = verify();
    is $rc, 3, 'exit 3';
    my $next = $mid + 2;
    like $out, qr/the first broken link:\n  broken link at row id $after \(chain_seq $next\)/,
        'the forged row links, the row after it does not'
        or diag $out;
    unlike $out, qr/row id 900000/, 'the forged row itself is consistent';

    tamper("DELETE FROM incidents_ledger WHERE id = 900000; DROP TABLE forged;"
           . " UPDATE incidents_ledger SET chain_seq = -chain_seq + 1"
           . " WHERE chain_seq > $mid + 1;"
           . " UPDATE incidents_ledger SET chain_seq = -chain_seq"
           . " WHERE chain_seq < 0");
    ($rc, $out) = verify();
    is $rc, 0, 'taken out again: verifies' or diag $out;
};

subtest '--from/--to check the rows recorded in those days' => sub {
    # every row was recorded today; a row "recorded" long ago, altered
    tamper("UPDATE incidents_ledger SET recorded_at = '2020-01-01'"
           . " WHERE chain_seq = 1");
    my ($rc, $out) = verify('--from', '2021-01-01');
    is $rc, 0, 'rows from 2021 on: intact (row 1 is before)' or diag $out;
    ($rc, $out) = verify('--to', '2020-01-01');
    is $rc, 3, 'rows up to 2020-01-01: row 1 is altered';
    like $out, qr/1 problems in 1 rows/, 'only row 1 checked';
    ($rc, $out) = verify();
    is $rc, 3, 'the whole chain: broken';
};

subtest 'usage' => sub {
    my ($rc, $out, $err) = $t->worker('audit', '--source', 'api',
                                      '--verify-chain');
    is $rc, 2, '--source with --verify-chain: exit 2';
    like $err, qr/--source and --verify-chain are two audits/,
        'one audit at a time';
    ($rc, $out, $err) = $t->worker('audit');
    is $rc, 2, 'nothing to do: exit 2';
    like $err, qr/usage: tracktik-worker audit --verify-chain/, 'usage';
    ($rc, $out, $err) = $t->worker('audit', '--verify-chain', '--from', '2026-13-01');
    is $rc, 2, 'a bad date: exit 2';
    like $err, qr/"2026-13-01" is not a date/, 'named';
    ($rc, $out, $err) = $t->worker('audit', '--verify-chain', '--from',
                                   '2026-03-02', '--to', '2026-03-01');
    is $rc, 2, '--from after --to: exit 2';
};

done_testing;
