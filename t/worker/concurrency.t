#!/usr/bin/perl
# tracktik-worker: several workers on one queue.  Two independent worker
# processes (as on two hosts) drain one queue together, and `--concurrency
# 2` does the same from one command: every job is done exactly once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $t = TTWorker->new('concurrency');
$t->load_contracts;

sub done_jobs {
    my (@logs) = @_;
    my %seen;
    for my $log (@logs) {
        $seen{$1}++ while $log =~ /job=(\d+) outcome=done/g;
    }
    return \%seen;
}

subtest 'two workers drain one queue, each job exactly once' => sub {
    my $n = 1500;
    $t->enqueue(map { [ "a$_", report_json(id => $_) ] } 1 .. $n);

    # the per-job lines (level debug) say which worker did which job
    my @w = map { $t->spawn('--drain', '--batch-size', '25', '--job-delay-ms', '2',
                            '--log-level', 'debug') }
            1 .. 2;
    is $t->reap($_), 0, "worker $_->{pid} exits 0" for @w;

    my @logs = map { $t->log_of($_) } @w;
    my $done = done_jobs(@logs);
    is scalar(keys %$done), $n, "$n distinct jobs done";
    is scalar(grep { $_ != 1 } values %$done), 0, 'none of them twice';
    my @share = map { scalar keys %{ done_jobs($_) } } @logs;
    ok $share[0] > 0 && $share[1] > 0, "both took part (@share)";

    is $t->value("SELECT count(*) FROM tracktik_jobs"), 0, 'queue empty';
    is $t->value("SELECT count(*) FROM incidents_ledger"), $n, "$n ledger rows";
    is $t->value("SELECT count(*) FROM billing_lines"), $n, "$n billing lines";
};

subtest '--concurrency 2 runs two processes under one supervisor' => sub {
    my $n = 1000;
    $t->enqueue(map { [ "b$_", report_json(id => 10000 + $_) ] } 1 .. $n);

    my ($rc, $log) = $t->drain('--concurrency', '2', '--batch-size', '25',
                               '--job-delay-ms', '2', '--log-level', 'debug');
    is $rc, 0, 'exits 0 once both are done';
    like $log, qr/event=supervising processes=2/, 'two processes';
    my %workers = map { $_ => 1 } $log =~ /worker=(\S+) job=\d+ outcome=done/g;
    is scalar(keys %workers), 2, 'both did work, under distinct lease names';
    my $done = done_jobs($log);
    is scalar(keys %$done), $n, "$n jobs done";
    is scalar(grep { $_ != 1 } values %$done), 0, 'each once';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id > 10000"),
        $n, "$n ledger rows";
};

subtest 'two workers racing on versions of the same reports' => sub {
    # every report twice, two updates, in separate jobs: workers collide on
    # the ledger's keys and fall back to one-by-one; the result is the same
    my @jobs;
    for my $id (20001 .. 20200) {
        push @jobs, [ "c$id-1", report_json(id => $id) ],
                    [ "c$id-2", report_json(id => $id, comment => 'x',
                                            updatedOn => '2026-03-04T00:00:00Z') ];
    }
    $t->enqueue(@jobs);
    my @w = map { $t->spawn('--drain', '--batch-size', '7') } 1 .. 2;
    is $t->reap($_), 0, 'worker exits 0' for @w;
    is $t->value("SELECT count(*) FROM tracktik_jobs"), 0, 'queue empty, nothing dead';
    # v1 after v2 is stale (older updatedOn) and adds nothing
    is $t->value("SELECT count(*) FROM (SELECT report_id FROM incidents_ledger"
               . " WHERE report_id > 20000 GROUP BY report_id"
               . " HAVING count(*) NOT IN (1, 2) OR max(version) <> count(*)) x"), 0,
        'one or two versions per report, numbered without gaps';
    is $t->value("SELECT count(*) FROM incidents_current WHERE report_id > 20000"
               . " AND raw->>'comment' = 'x'"), 200,
        'the current version of every report is the update';
    is $t->value("SELECT count(*) FROM billing_lines WHERE report_id > 20000"), 200,
        'one billing line per report (the update bills the same)';
};

done_testing;
