#!/usr/bin/perl
# tracktik-worker: the command line: help, contracts, run as a daemon
# (LISTEN wake-up, --poll-only, graceful SIGTERM), and secrets kept out of
# its output.  migrate has a suite of its own: migrate.t.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run timeout);
use TTWorker;

my $bin = TTWorker::binary();
my $repo = TTWorker::repo();

sub cli {
    my (@args) = @_;
    my ($out, $err) = ('', '');
    local $ENV{TRACKTIK_DSN};
    delete $ENV{TRACKTIK_DSN};
    run([ $bin, @args ], \undef, \$out, \$err, timeout(60));
    return ($? >> 8, $out, $err);
}

subtest 'help and usage errors' => sub {
    my ($rc, $out) = cli('--help');
    is $rc, 0, '--help exits 0';
    like $out, qr/run \[--drain\] \[--concurrency N\] \[--poll-only\]/, 'documents run';
    like $out, qr/contracts load FILE/, 'documents contracts';
    like $out, qr/jobs retry ID \| --dead/, 'documents jobs';
    like $out, qr/--dsn CONNINFO/, 'documents --dsn';

    ($rc, undef, my $err) = cli();
    is $rc, 2, 'no command: exit 2';
    ($rc, undef, $err) = cli('frobnicate', '--dsn', 'host=127.0.0.1');
    is $rc, 2, 'unknown command: exit 2';
    like $err, qr/unknown command or wrong arguments: frobnicate/, 'says so';
    ($rc, undef, $err) = cli('run');
    is $rc, 2, 'no database: exit 2';
    like $err, qr/no database: pass --dsn CONNINFO or set TRACKTIK_DSN/, 'says how';
    ($rc, undef, $err) = cli('run', '--batch-size', 'lots', '--dsn', 'x');
    is $rc, 2, 'bad option value: exit 2';
    like $err, qr/--batch-size: "lots" is not a number in 1\.\.1000/, 'names it';
};

subtest 'a password in the DSN never reaches the output' => sub {
    my ($rc, $out, $err) = cli('jobs', 'list', '--dsn',
        'host=127.0.0.1 port=1 user=tracktik password=s3cr3t-pw connect_timeout=5');
    is $rc, 1, 'connection failure: exit 1';
    like $err, qr/cannot connect to PostgreSQL/, 'a clear error';
    unlike "$out$err", qr/s3cr3t-pw/, 'without the password';
};

my $t = TTWorker->new('cli');

subtest 'contracts: check, load, list, and errors that name the rule' => sub {
    my ($rc, $out) = $t->worker('contracts', 'check',
                                "$repo/conf/contracts.example.json");
    is $rc, 0, 'the example is valid';
    like $out, qr/3 rules, valid/, 'says so';

    my $bad = $t->file('bad.json', TTWorker::json_encode({
        effective_from => '2026-01-01', rules => [
            { id => 'adh', match => { category => 'After hours dispatch' },
              bill_code => 'ADH', quantity => 1 },
            { id => 'nights', match => { time_of_day => { from => '18:00',
              to => '6pm' } }, bill_code => 'NGT', quantity => 1 } ] }));
    my $err;
    ($rc, $out, $err) = $t->worker('contracts', 'load', $bad);
    is $rc, 1, 'an invalid file: exit 1';
    like $err, qr/bad\.json: rule "nights" \(rules\[1\]\): match\.time_of_day: "from" and "to" must be 24-hour times/,
        'the error names the file, the rule and the field';
    is $t->value("SELECT count(*) FROM contract_rule_sets"), 0, 'nothing stored';

    my $undated = $t->file('undated.json', TTWorker::json_encode({ rules => [
        { id => 'a', bill_code => 'A', quantity => 1 } ] }));
    ($rc, $out, $err) = $t->worker('contracts', 'load', $undated);
    is $rc, 1, 'no effective date: exit 1';
    like $err, qr/effective_from: missing; add it to the file or pass --effective-from DATE/,
        'says how to fix it';
    ($rc, $out) = $t->worker('contracts', 'load', $undated,
                             '--effective-from', '2026-07-01');
    is $rc, 0, '--effective-from supplies it';
    like $out, qr/rule set version 1: 1 rules, effective from 2026-07-01T00:00:00Z/,
        'loaded as version 1';
    ($rc, $out) = $t->worker('contracts', 'load', "$repo/conf/contracts.example.json");
    like $out, qr/rule set version 2: 3 rules, effective from 2020-01-01T00:00:00Z/,
        'the example as version 2';

    ($rc, $out) = $t->worker('contracts', 'load', '--if-changed',
                             "$repo/conf/contracts.example.json");
    is $rc, 0, '--if-changed with the same file exits 0';
    like $out, qr/unchanged: rule set version 2 stays in force/, 'and loads nothing';
    is $t->value("SELECT count(*) FROM contract_rule_sets"), 2, 'still two versions';

    ($rc, $out) = $t->worker('contracts', 'list');
    like $out, qr/^1\t2026-07-01T00:00:00Z\t1\tundated\.json/m, 'list shows version 1';
    like $out, qr/^2\t2020-01-01T00:00:00Z\t3\tcontracts\.example\.json/m, 'and 2';
    is $t->value("SELECT string_agg(rule_id, ',' ORDER BY position) FROM"
               . " contract_rules WHERE rule_set_version = 2"),
        'after-hours-dispatch,alarm-response-hours,client-3-night-patrol',
        'one row per rule';
};

subtest 'run: a NOTIFY wakes the idle worker' => sub {
    my $w = $t->spawn('--poll-interval', '600000');
    ok wait_until(sub { $t->log_of($w) =~ /event=connected/ }), 'connected';
    $t->enqueue([ 'listen-1', report_json(id => 1) ]);
    # the poll interval is 10 minutes: only the NOTIFY can be this quick
    ok wait_until(sub {
        $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 1") == 1
    }, 60), 'the job was processed without waiting for a poll';
    like $t->log_of($w), qr/wakeup=listen/, 'in LISTEN mode';
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'SIGTERM: exit 0';
    like $t->log_of($w), qr/event=stopped done=1/, 'and a last line with totals';
};

subtest 'run --poll-only (PgBouncer): no LISTEN, polling finds jobs' => sub {
    my $w = $t->spawn('--poll-only', '--poll-interval', '100');
    ok wait_until(sub { $t->log_of($w) =~ /event=connected/ }), 'connected';
    $t->enqueue([ 'poll-1', report_json(id => 2) ]);
    ok wait_until(sub {
        $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 2") == 1
    }, 60), 'the job was processed';
    like $t->log_of($w), qr/wakeup=poll/, 'in poll mode';
    is $t->value("SELECT count(*) FROM pg_listening_channels()"), 0,
        'sanity: this session listens to nothing';
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'exit 0';
};

subtest 'SIGTERM mid-batch: finished jobs commit, the rest is released' => sub {
    $t->enqueue(map { [ "term-$_", report_json(id => 100 + $_) ] } 1 .. 60);
    my $w = $t->spawn('--batch-size', '60', '--job-delay-ms', '100');
    ok wait_until(sub {
        $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'running'") > 0
    }), 'the batch is running';
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'exit 0';
    my $log = $t->log_of($w);
    like $log, qr/event=released jobs=\d+ reason=stopping/, 'released the unstarted jobs';
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'running'"), 0,
        'no job is left leased';
    my ($done) = $log =~ /event=stopped done=(\d+)/;
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'queued'"
               . " AND attempts = 0 AND locked_by IS NULL"), 60 - $done,
        "the $done started jobs are recorded, the others queued as new";
    $t->drain;
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id > 100"), 60,
        'a later drain finishes the rest';
};

subtest 'run: SIGHUP neither stops nor disturbs the worker' => sub {
    my $w = $t->spawn('--poll-interval', '100');
    ok wait_until(sub { $t->log_of($w) =~ /event=connected/ }), 'connected';
    kill 'HUP', $w->{pid};
    $t->enqueue([ 'hup-single-1', report_json(id => 900) ]);
    ok wait_until(sub {
        $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 900") == 1
    }, 60), 'a job after SIGHUP is processed';
    ok kill(0, $w->{pid}), 'still running';
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'SIGTERM: exit 0';
};

subtest 'global options before the command; the command checked first' => sub {
    my ($rc, $out) = $t->worker('--dsn', $t->dsn, 'contracts', 'list');
    is $rc, 0, '--dsn X contracts list: exit 0';
    like $out, qr/^version\teffective_from/, 'listed';
    my $err;
    ($rc, undef, $err) = cli('bogus');
    is $rc, 2, 'an unknown command without a database: exit 2';
    like $err, qr/unknown command or wrong arguments: bogus/, 'names it';
    ($rc, $out) = cli('--version');
    is $rc, 0, '--version: exit 0';
    like $out, qr/^tracktik-worker \d+\.\d+\.\d+$/, 'prints the version';
};

subtest 'a stored rule set the worker cannot use is reported as that' => sub {
    my $u = TTWorker->new('cli_rules');
    $u->rows("INSERT INTO contract_rule_sets (effective_from, document)"
             . " VALUES (now(), '{\"rules\": {}}')");
    my $w = $u->spawn('--poll-interval', 100);
    my $log = TTWorker::wait_until(sub {
        my $l = $u->log_of($w);
        return $l =~ /event=rule_set_unusable/ ? $l : '';
    }, 30);
    kill 'TERM', $w->{pid};
    $u->reap($w);
    like $log, qr/event=rule_set_unusable error="[^"]*expected an array of rules[^"]*" hint="store a valid rule set: tracktik-worker contracts load FILE"/,
        'names the rule set and what to do';
    unlike $log, qr/event=connect_failed/, 'not called a connection failure';
};

done_testing;
