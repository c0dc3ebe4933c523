#!/usr/bin/perl
# tracktik-worker: failures.  Poison payloads go to 'dead' with a precise
# error and never hold other jobs back; database failures are retried with
# backoff until the attempt limit; dead jobs are replayed by the operator;
# expired leases are rescued; the delivery memory is pruned.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $t = TTWorker->new('failures');
$t->load_contracts;

subtest 'poison payloads go dead with a precise error, the rest is done' => sub {
    $t->enqueue(
        [ 'ok-1', report_json(id => 101) ],
        [ 'poison-array', '[1, 2, 3]' ],
        [ 'poison-id', { id => 'abc', reportDateTime => '2026-03-02T23:30:00Z' } ],
        [ 'poison-date', report_json(id => 102, reportDateTime => 'yesterday') ],
        [ 'poison-tz', { %{ report_json(id => 103) }, timeZone => 'Mars/Base' } ],
        [ 'poison-field', report_json(id => 104, category => 'Alarm response') ],
        [ 'ok-2', report_json(id => 105) ],
    );
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'the worker did not crash: drain exits 0';

    my %dead = map { $_->[0] => $_->[1] } $t->rows(
        "SELECT dedupe_key, last_error FROM tracktik_jobs WHERE state = 'dead'");
    is_deeply \%dead, {
        'poison-array' => 'payload: expected a JSON object, got an array',
        'poison-id'    => 'id: expected a positive integer, got a string',
        'poison-date'  => 'reportDateTime: "yesterday" is not an ISO 8601 date-time',
        'poison-tz'    => 'timeZone: "Mars/Base" is not a known time zone',
        'poison-field' => 'rule "alarm-response-hours" (rule set 1): the report'
                        . ' has no field tagged "hours" to bill as quantity',
    }, 'each poison job is dead with what is wrong with it';
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state <> 'dead'"), 0,
        'nothing else left in the queue';
    is $t->value("SELECT string_agg(report_id::text, ',' ORDER BY report_id)"
               . " FROM incidents_ledger"), '101,105', 'the good jobs were recorded';
    like $log, qr/level=error .*outcome=dead attempts=1 error="payload: expected a JSON object, got an array"/,
        'dead jobs are logged';
};

subtest 'jobs list shows dead jobs; jobs retry replays them' => sub {
    my ($rc, $out) = $t->worker('jobs', 'list', '--state', 'dead');
    is $rc, 0, 'jobs list exits 0';
    my @lines = split /\n/, $out;
    is scalar @lines, 6, 'a header and five dead jobs';
    like $lines[0], qr/^id\tstate\tattempts/, 'tab separated, with a header';
    like $out, qr/\tdead\t1\t.*Mars\/Base/, 'with the last error';

    ($rc, undef, my $err) = $t->worker('jobs', 'list', '--state', 'gone');
    is $rc, 1, 'an unknown state is refused';
    like $err, qr/--state: "gone" is not a job state \(queued, running, dead\)/,
        'with a clear error';

    my $id = $t->value("SELECT id FROM tracktik_jobs WHERE dedupe_key = 'poison-field'");
    ($rc, $out) = $t->worker('jobs', 'retry', $id);
    is $rc, 0, 'jobs retry ID exits 0';
    is $out, "requeued job $id\n", 'and says so';
    is $t->value("SELECT state || '/' || attempts FROM tracktik_jobs WHERE id = $id"),
        'queued/0', 'queued again with a fresh attempt count';

    ($rc, undef, $err) = $t->worker('jobs', 'retry', '999999');
    is $rc, 1, 'retrying an unknown job fails';
    like $err, qr/job 999999 not found/, 'with a clear error';

    # the operator fixes the rules: hours are optional now
    my $rules = $t->file('fixed.json', TTWorker::json_encode({
        effective_from => '2020-01-01', rules => [
            { id => 'alarm-flat', match => { category => 'Alarm response' },
              bill_code => 'ALR', quantity => 1 } ] }));
    like $t->load_contracts($rules), qr/rule set version 2: 1 rules/, 'new rule set';

    ($rc, $out) = $t->worker('jobs', 'retry', '--dead');
    is $rc, 0, 'jobs retry --dead exits 0';
    is $out, "requeued 4 dead jobs\n", 'the other four';
    $t->drain;
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 104"), 1,
        'the replayed job is recorded';
    is $t->value("SELECT bill_code || ' ' || quantity || ' ' || rule_id || '\@'"
               . " || rule_set_version FROM billing_lines WHERE report_id = 104"),
        'ALR 1 alarm-flat@2', 'under the new rule set';
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'dead'"), 4,
        'true poison stays dead';
};

subtest 'database failures are retried with backoff, then dead' => sub {
    $t->rows(q{
        CREATE FUNCTION test_outage() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.report_id = 666 THEN
                RAISE EXCEPTION 'simulated outage for report 666';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_outage BEFORE INSERT ON incidents_ledger
            FOR EACH ROW EXECUTE FUNCTION test_outage();
    });
    $t->enqueue([ 'outage', report_json(id => 666) ],
                [ 'fine', report_json(id => 667) ]);

    my ($rc, $log) = $t->drain('--max-attempts', '2', '--backoff-base-ms', '60000');
    is $rc, 0, 'drain exits 0 (the failed job waits for its retry time)';
    like $log, qr/event=batch_failed jobs=2 retrying=one_by_one/,
        'the batch failed and was split';
    like $log, qr/job=\d+ outcome=retry attempts=1 retry_in=\d+\.\ds error="recording report 666: simulated outage/,
        'the failure is logged with the retry delay';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 667"), 1,
        'the other job of the batch was recorded';

    my @job = $t->rows("SELECT state, attempts, run_after > now() + interval '20 s',"
                     . " run_after < now() + interval '61 s', last_error"
                     . " FROM tracktik_jobs WHERE dedupe_key = 'outage'");
    is_deeply [ @{ $job[0] }[0 .. 3] ], [ 'queued', 1, 't', 't' ],
        'queued again, 30-60 s later (1 min base, jitter)';
    like $job[0][4], qr/simulated outage for report 666/, 'last_error kept';

    # time passes: make it due now
    $t->rows("UPDATE tracktik_jobs SET run_after = now() WHERE dedupe_key = 'outage'");
    ($rc, $log) = $t->drain('--max-attempts', '2', '--backoff-base-ms', '60000');
    like $log, qr/outcome=dead attempts=2 error="recording report 666/,
        'the last attempt makes it dead';
    is $t->value("SELECT state FROM tracktik_jobs WHERE dedupe_key = 'outage'"),
        'dead', 'dead in the table';

    $t->rows("DROP TRIGGER test_outage ON incidents_ledger");
    $t->worker('jobs', 'retry', '--dead');
    $t->drain;
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 666"), 1,
        'after the outage the replayed job is recorded';
};

subtest 'expired leases are rescued: a vanished worker loses nothing' => sub {
    $t->rows("DELETE FROM tracktik_jobs");
    $t->enqueue([ 'orphan', report_json(id => 700) ]);
    $t->rows("UPDATE tracktik_jobs SET state = 'running', attempts = 1,"
           . " locked_by = 'gone-host:4242',"
           . " locked_until = now() - interval '1 s'");
    my ($rc, $log) = $t->drain;
    like $log, qr/level=warn .*outcome=rescued state=queued lost_worker=gone-host:4242/,
        'the rescue is logged';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 700"), 1,
        'and the job processed';
    is $t->value("SELECT count(*) FROM tracktik_jobs"), 0, 'queue empty';

    # a lease still valid is left alone until it runs out
    $t->enqueue([ 'leased', report_json(id => 701) ]);
    $t->rows("UPDATE tracktik_jobs SET state = 'running', attempts = 1,"
           . " locked_by = 'busy-host:1', locked_until = now() + interval '2 s'");
    ($rc, $log) = $t->drain('--lease-seconds', '1');
    is $rc, 0, 'drain waits for the lease, rescues and finishes';
    like $log, qr/outcome=rescued state=queued lost_worker=busy-host:1/, 'rescued after expiry';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 701"), 1,
        'processed once the lease ran out';
};

subtest 'the lease is renewed while a long batch is worked on' => sub {
    $t->enqueue(map { [ "slow-$_", report_json(id => 800 + $_) ] } 1 .. 20);
    my $w = $t->spawn('--drain', '--lease-seconds', '1', '--job-delay-ms', '150');
    my $first = wait_until(sub {
        $t->value("SELECT locked_until FROM tracktik_jobs WHERE state = 'running'"
                . " ORDER BY id LIMIT 1") });
    ok $first, 'the batch is leased';
    my $renewed = wait_until(sub {
        $t->value("SELECT locked_until > '$first' FROM tracktik_jobs"
                . " WHERE state = 'running' ORDER BY id LIMIT 1") eq 't' });
    ok $renewed, 'locked_until moved forward while working';
    is $t->reap($w), 0, 'the worker exits 0';
    my $log = $t->log_of($w);
    unlike $log, qr/outcome=rescued/, 'no job was taken away from it';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id BETWEEN 801 AND 820"),
        20, 'all 20 recorded';
};

subtest 'deliveries older than the retention window are pruned' => sub {
    $t->rows("INSERT INTO tracktik_deliveries (dedupe_key, received_at) VALUES"
           . " ('old', now() - interval '40 days'),"
           . " ('recent', now() - interval '10 days'), ('new', now())");
    $t->drain('--retention-days', '45');
    is $t->value("SELECT count(*) FROM tracktik_deliveries"), 3,
        'a 45-day window keeps all three';
    my ($rc, $log) = $t->drain;
    like $log, qr/event=deliveries_pruned rows=1 older_than_days=30/, 'logged';
    is $t->value("SELECT string_agg(dedupe_key, ',' ORDER BY dedupe_key)"
               . " FROM tracktik_deliveries"), 'new,recent',
        'the default 30 days prunes the 40-day-old one';
};

done_testing;
