#!/usr/bin/perl
# tracktik-worker: the incident ledger and billing lines.  Redelivery,
# updates, an update that changes the bill code, envelopes, and the
# database refusing to edit the ledger or billing lines.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $t = TTWorker->new('ledger');
$t->load_contracts;

sub lines_of {
    my ($report) = @_;
    return join ';', map { join ',', @$_ } $t->rows(
        "SELECT kind, bill_code, quantity, ledger_version, rule_id"
      . "  FROM billing_lines WHERE report_id = $report"
      . " ORDER BY ledger_version, kind = 'charge', id");
}

subtest 'a new report: one ledger row, one billing line (the seed rule)' => sub {
    $t->enqueue([ 'd-1', report_json(id => 1) ]);
    my ($rc, $log) = $t->drain('--log-level', 'debug');   # the per-job line
    is $rc, 0, 'drain exits 0';
    like $log, qr/job=\d+ outcome=done attempts=1 reports=1 report=1 version=1 appended=1 duplicate=0 stale=0 charged=1 credited=0/,
        'one logfmt line says what happened';

    my @row = $t->rows("SELECT version, client_id, site_id, severity, category,"
                     . " status, occurred_at AT TIME ZONE 'UTC', event_id,"
                     . " raw->>'id' FROM incidents_ledger WHERE report_id = 1");
    is scalar @row, 1, 'one ledger row';
    is_deeply [ @{ $row[0] }[0 .. 6] ],
        [ 1, 3, 55, 'HIGH', 'After hours dispatch', 'APPROVED',
          '2026-03-02 23:30:00' ], 'seed columns filled from the entity';
    like $row[0][7], qr/^report:1:[0-9a-f]{64}$/, 'event_id: report id + content hash';
    is $row[0][8], '1', 'raw keeps the entity';

    is lines_of(1), 'charge,ADH,1.0,1,after-hours-dispatch', 'ADH x 1.0';
    is $t->value("SELECT idempotency_key FROM billing_lines WHERE report_id = 1"),
        'report:1:v1:after-hours-dispatch@1', 'deterministic idempotency key';
    is $t->value("SELECT count(*) FROM tracktik_jobs"), 0, 'the job left the queue';
};

subtest 'redelivery of identical content adds nothing' => sub {
    # same entity, other key order and spacing, as a second job
    my $again = report_json(id => 1);
    $t->enqueue([ 'd-1-again', $again ],
                [ 'd-1-third', TTWorker::json_encode({ data => $again }) ]);
    my ($rc, $log) = $t->drain('--log-level', 'debug');
    is $rc, 0, 'drain exits 0';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 1"), 1,
        'still one version';
    is $t->value("SELECT count(*) FROM billing_lines WHERE report_id = 1"), 1,
        'still one billing line';
    is scalar(() = $log =~ /duplicate=1/g), 2, 'both logged as duplicates';
    is $t->value("SELECT count(*) FROM tracktik_jobs"), 0, 'jobs finished';
};

subtest 'an update is a new version; billing unchanged adds no line' => sub {
    $t->enqueue([ 'd-1-v2', report_json(id => 1, comment => 'guard left at 23:50',
                                        updatedOn => '2026-03-03T01:00:00Z') ]);
    $t->drain;
    is_deeply [ map { $_->[0] } $t->rows(
        "SELECT version FROM incidents_ledger WHERE report_id = 1 ORDER BY version") ],
        [ 1, 2 ], 'versions 1 and 2';
    is $t->value("SELECT version FROM incidents_current WHERE report_id = 1"), 2,
        'incidents_current shows the newest version';
    is $t->value("SELECT raw->>'comment' FROM incidents_current WHERE report_id = 1"),
        'guard left at 23:50', 'with its content';
    is lines_of(1), 'charge,ADH,1.0,1,after-hours-dispatch',
        'same bill: no credit, no new line';
};

subtest 'an update that changes the bill code: credit line + new line' => sub {
    $t->enqueue([ 'd-1-v3', report_json(
        id => 1, category => 'Alarm response', flag_id => 10,
        updatedOn => '2026-03-03T02:00:00Z',
        reportFields => [ { id => 5, fieldTag => 'hours', value => '2.5' } ]) ]);
    $t->drain;
    is lines_of(1),
        'charge,ADH,1.0,1,after-hours-dispatch;'
      . 'credit,ADH,-1.0,3,after-hours-dispatch;'
      . 'charge,ALR,2.5,3,alarm-response-hours',
        'ADH credited, ALR x 2.5 hours charged, nothing edited';
    is $t->value("SELECT credits_line_id = (SELECT id FROM billing_lines"
               . " WHERE report_id = 1 ORDER BY id LIMIT 1) FROM billing_lines"
               . " WHERE kind = 'credit'"), 't', 'the credit points at the charge it undoes';
    is $t->value("SELECT sum(quantity) FILTER (WHERE bill_code = 'ADH')"
               . " FROM billing_lines WHERE report_id = 1"), '0.0', 'ADH nets to zero';
    is $t->value("SELECT unit_price FROM billing_lines WHERE bill_code = 'ALR'"),
        '65.00', 'unit price from the rule';
};

subtest 'a stale update (older updatedOn) adds nothing' => sub {
    $t->enqueue([ 'd-1-old', report_json(id => 1, comment => 'late copy',
                                         updatedOn => '2026-03-03T00:30:00Z') ]);
    my ($rc, $log) = $t->drain('--log-level', 'debug');
    like $log, qr/stale=1/, 'logged as stale';
    is $t->value("SELECT max(version) FROM incidents_ledger WHERE report_id = 1"), 3,
        'no version 4';
    is $t->value("SELECT count(*) FROM billing_lines WHERE report_id = 1"), 3,
        'no billing change';
};

subtest 'an update that stops billing credits the open line' => sub {
    $t->enqueue([ 'd-1-v4', report_json(
        id => 1, category => 'Alarm response', flag_id => 10, status => 'PENDING',
        updatedOn => '2026-03-03T03:00:00Z',
        reportFields => [ { id => 5, fieldTag => 'hours', value => '2.5' } ]) ]);
    $t->drain;
    is $t->value("SELECT string_agg(kind || ' ' || bill_code || ' ' || quantity,"
               . " ', ' ORDER BY id) FROM billing_lines WHERE report_id = 1"
               . " AND ledger_version = 4"), 'credit ALR -2.5',
        'only PENDING now: the ALR charge is credited';
    is $t->value("SELECT sum(quantity) FROM billing_lines WHERE report_id = 1"),
        '0.0', 'nothing billed on balance';
};

subtest 'envelopes: {"data": [...]} brings several reports' => sub {
    $t->enqueue([ 'd-list', { meta => { count => 2 }, data => [
        report_json(id => 20), report_json(id => 21, category => 'Patrol') ] } ]);
    $t->drain;
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id IN (20, 21)"),
        2, 'two ledger rows';
    is $t->value("SELECT raw->>'id' FROM incidents_ledger WHERE report_id = 21"), '21',
        'raw is the element, not the envelope';
    is $t->value("SELECT string_agg(report_id || ':' || bill_code, ',' ORDER BY"
               . " report_id) FROM billing_lines WHERE report_id IN (20, 21)"),
        '20:ADH,21:NPR', 'the dispatch bills ADH; the patrol, at 18:30 on a'
        . ' Monday at a client 3 site, the night rule';
};

subtest 'the database refuses to edit the ledger' => sub {
    like $t->sql_error("UPDATE incidents_ledger SET severity = 'LOW'"),
        qr/incidents_ledger is append-only: UPDATE is not allowed/, 'UPDATE rejected';
    like $t->sql_error("DELETE FROM incidents_ledger"),
        qr/append-only: DELETE is not allowed/, 'DELETE rejected';
    like $t->sql_error("TRUNCATE incidents_ledger CASCADE"),
        qr/append-only: TRUNCATE is not allowed/, 'TRUNCATE rejected';
    like $t->sql_error("UPDATE billing_lines SET quantity = 9"),
        qr/billing_lines are never edited/, 'billing amounts cannot be edited';
    like $t->sql_error("DELETE FROM billing_lines"),
        qr/billing_lines are never deleted/, 'billing lines cannot be deleted';
    is $t->sql_error("UPDATE billing_lines SET state = 'posted', posted_at = now()"
                   . " WHERE report_id = 20"), '', 'posting state may change';
    like $t->sql_error("UPDATE contract_rules SET bill_code = 'X'"),
        qr/contract_rules is immutable/, 'rule sets are immutable';
    is $t->value("SELECT count(*) FROM incidents_ledger"), 6, 'ledger intact';
};

subtest 'reprocessing a finished job changes nothing' => sub {
    my $before = $t->value("SELECT count(*) || '/' || (SELECT count(*) FROM"
                         . " billing_lines) FROM incidents_ledger");
    $t->enqueue([ 'd-replay', { data => [ report_json(id => 20),
        report_json(id => 21, category => 'Patrol') ] } ]);
    $t->drain;
    is $t->value("SELECT count(*) || '/' || (SELECT count(*) FROM billing_lines)"
               . " FROM incidents_ledger"), $before, 'same ledger rows and lines';
};

done_testing;
