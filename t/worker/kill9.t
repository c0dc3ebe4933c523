#!/usr/bin/perl
# tracktik-worker: kill -9 in the middle of a batch, 20 times over.  After
# a final drain nothing is lost and nothing is doubled: every report has
# exactly the versions its distinct contents call for, and exactly the
# billing lines (charges and credits) one clean pass would have made.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(WIFSIGNALED WTERMSIG);
use TTWorker;

my $t = TTWorker->new('kill9');
$t->load_contracts;

# 450 reports, each delivered as: v1, a redelivery of v1, v2 (another
# comment; same bill), and for every third report v3, which turns the
# after-hours dispatch into an alarm response (credit ADH, charge ALR).
my ($reports, @jobs) = (450);
for my $id (1 .. $reports) {
    my $v1 = report_json(id => $id, updatedOn => '2026-03-03T00:00:00Z');
    push @jobs, [ "r$id-v1", $v1 ], [ "r$id-v1-again", { data => $v1 } ],
        [ "r$id-v2", report_json(id => $id, comment => 'updated',
                                 updatedOn => '2026-03-03T01:00:00Z') ];
    push @jobs, [ "r$id-v3", report_json(
        id => $id, category => 'Alarm response', flag_id => 10,
        updatedOn => '2026-03-03T02:00:00Z',
        reportFields => [ { fieldTag => 'hours', value => '1.5' } ]) ]
        if $id % 3 == 0;
}
$t->enqueue(@jobs);
my $total = @jobs;

my @opts = ('--batch-size', '20', '--job-delay-ms', '5', '--lease-seconds', '1',
            '--max-attempts', '100');

my $killed_mid_batch = 0;
for my $round (1 .. 20) {
    # let it finish 0, 1 or 2 batches first, so kills land on a mix of
    # fresh and partly worked queues
    my $queued = $t->value("SELECT count(*) FROM tracktik_jobs");
    my $target = $queued - ($round % 3) * 10;
    my $w = $t->spawn(@opts);
    # mid-batch: this worker holds a lease and has not committed it yet
    my $leased = wait_until(sub {
        $t->value("SELECT count(*) <= $target AND count(*) FILTER (WHERE"
                . " state = 'running' AND locked_by LIKE '%:$w->{pid}') > 0"
                . " FROM tracktik_jobs") eq 't'
    }, 60);
    kill 'KILL', $w->{pid};
    my $status = $t->reap($w);
    $killed_mid_batch++ if $leased && WIFSIGNALED($status)
                           && WTERMSIG($status) == 9;
}
is $killed_mid_batch, 20, 'killed 20 workers with kill -9 while they held a batch';

my $left = $t->value("SELECT count(*) FROM tracktik_jobs");
ok $left > 0, "work was left behind ($left of $total jobs)";

my ($rc, $log) = $t->drain('--batch-size', '100', '--lease-seconds', '1');
is $rc, 0, 'a final drain exits 0';
is $t->value("SELECT count(*) FROM tracktik_jobs"), 0,
    'zero jobs lost: the queue is empty, nothing dead';

my $expected_versions = 2 * $reports + int($reports / 3);
is $t->value("SELECT count(*) FROM incidents_ledger"), $expected_versions,
    "exactly $expected_versions ledger versions (no duplicates)";
is $t->value("SELECT count(*) FROM (SELECT report_id FROM incidents_ledger"
           . " GROUP BY report_id HAVING max(version) <> count(*)"
           . " OR count(*) <> CASE WHEN report_id % 3 = 0 THEN 3 ELSE 2 END) x"), 0,
    'every report has versions 1..n, n = its distinct contents';
is $t->value("SELECT count(DISTINCT report_id) FROM incidents_current"), $reports,
    'every report is current';
is $t->value("SELECT count(*) FROM incidents_current WHERE"
           . " (report_id % 3 = 0) <> (category = 'Alarm response')"), 0,
    'the current version is the newest content';

# What is billed: ADH x 1 for reports 1, 2, 4, 5, ...; ALR x 1.5 for every
# third.  A report whose v1 and v3 met in one batch never had its ADH
# charged (the batch bills its newest version), otherwise the ADH charge
# was credited: both are right, a second charge of anything is not.
is $t->value("SELECT count(*) FROM (SELECT report_id FROM billing_lines"
           . " GROUP BY report_id HAVING"
           . " count(*) FILTER (WHERE kind = 'charge' AND bill_code = 'ADH') <>"
           . "   CASE WHEN report_id % 3 = 0 THEN"
           . "     count(*) FILTER (WHERE kind = 'credit') ELSE 1 END"
           . " OR count(*) FILTER (WHERE kind = 'charge' AND bill_code = 'ADH') > 1"
           . " OR count(*) FILTER (WHERE bill_code = 'ALR') <>"
           . "   CASE WHEN report_id % 3 = 0 THEN 1 ELSE 0 END) x"), 0,
    'no report was charged twice; every ADH charge of a re-billed report is credited';
is $t->value("SELECT count(DISTINCT report_id) FROM billing_lines"), $reports,
    'every report billed';
is $t->value("SELECT count(*) FROM billing_lines b WHERE kind = 'charge' AND NOT"
           . " EXISTS (SELECT 1 FROM billing_lines c WHERE c.credits_line_id = b.id)"),
    $reports, 'exactly one open charge per report';
is $t->value("SELECT count(*) FROM (SELECT report_id, bill_code FROM billing_lines"
           . " GROUP BY 1, 2 HAVING sum(quantity) <> CASE"
           . " WHEN report_id % 3 = 0 AND bill_code = 'ADH' THEN 0"
           . " WHEN bill_code = 'ADH' THEN 1 ELSE 1.5 END) x"), 0,
    'every report nets to what it should bill';

done_testing;
