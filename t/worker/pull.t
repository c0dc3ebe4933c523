#!/usr/bin/perl
# tracktik-worker pull: 20,000 reports over four months listed from the
# simulator through 429 storms (budget and injected), a 503, a gateway
# timeout and a kill -9 in the middle, then resumed: every report once,
# none twice, and the same ledger and billing as webhook jobs for the same
# reports build.  Then: a changed report adds exactly one version, an
# unchanged one nothing, and the pull costs the requests sliding windows
# promise (full pages of 1,000 but the last, no short page per month, no
# listing of posts the reports include); bad ranges exit 2 and change
# nothing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use TTWorker;
use TTSim;
use TTPull;

my $t = TTWorker->new('pull');
my $w = TTWorker->new('pull_webhooks');     # the same reports as webhooks
my $sim = TTSim->new(repo => TTWorker::repo());
$t->load_contracts;
$w->load_contracts;

for my $db ($t, $w) {
    my ($rc, $out, $err) = $sim->worker_login($db);
    is $rc, 0, "logged in ($db->{db})" or diag $err;
}

my @RANGE = ('--from', '2026-01-01', '--to', '2026-04-30');
my $INCLUDE = 'reportFields,reportTemplate,account,position,reportFlag,'
            . 'createdOn,updatedOn';
my @MONTHS = ([ '2026-01-01', '2026-01-31' ], [ '2026-02-01', '2026-02-28' ],
              [ '2026-03-01', '2026-03-31' ], [ '2026-04-01', '2026-04-30' ]);

subtest 'bad ranges exit 2 with the reason, and change nothing' => sub {
    for my $case (
        [ [ '--from', '2026-02-01', '--to', '2026-01-31' ],
          qr/--to 2026-01-31 is before --from 2026-02-01/ ],
        [ [ '--from', '2026-13-01', '--to', '2026-12-31' ],
          qr/--from: "2026-13-01" is not a date/ ],
        [ [ '--from', '2026-02-30', '--to', '2026-03-01' ],
          qr/--from: "2026-02-30" is not a date/ ],
        [ [ '--from', '2026-01-01', '--to', 'yesterday' ],
          qr/--to: "yesterday" is not a date/ ],
        [ [ '--from', '2026-01-01' ], qr/needs --from DATE and --to DATE/ ],
        [ [ @RANGE, '--site', '102', '--client', '101' ],
          qr/--site and --client exclude each other/ ])
    {
        my ($rc, $out, $err) = $t->worker('pull', @{ $case->[0] });
        is $rc, 2, "exit 2: @{ $case->[0] }";
        like $err, $case->[1], 'the reason';
    }
    is $t->value('SELECT count(*) FROM tracktik_pulls'), 0, 'no pull recorded';
    is $sim->state->{requests}{'GET /rest/v1/reports'} // 0, 0,
        'TrackTik was not asked';
};

my $made = $sim->admin('POST', '/__sim/reports',
                       { count => 20000, from => '2026-01-01',
                         to => '2026-04-30', seed => 11 });
is $made->{created}, 20000, '20,000 reports created in the simulator';

# what TrackTik holds in the range, month by month (meta.count)
my $expected = 0;
for my $m (@MONTHS) {
    $expected += $sim->get("/rest/v1/reports?reportDateTime:between="
                           . "$m->[0]%7C$m->[1]&limit=1")->{meta}{count};
}
cmp_ok $expected, '>', 19900, "$expected reports in the range";

# a page of the listing as raw text (by id and offset: not the worker's
# way)
my $http = HTTP::Tiny->new(timeout => 60);
sub raw_page {
    my ($m, $offset) = @_;
    my $r = $http->get($sim->url . "/rest/v1/reports?reportDateTime:between="
        . "$m->[0]%7C$m->[1]&sort=id&limit=1000&offset=$offset"
        . "&include=$INCLUDE",
        { headers => { Authorization => 'Bearer ' . $sim->token } });
    die "listing: $r->{status}\n" unless $r->{status} == 200;
    return $r->{content};
}

subtest 'the same reports as webhook jobs (the reference ledger)' => sub {
    my $n = 0;
    for my $m (@MONTHS) {
        for (my $offset = 0; ; $offset += 1000) {
            my $page = raw_page($m, $offset);
            # each report a job, keyed as a delivery would be
            my ($count) = $w->rows(
                "SELECT count(job_id) FROM tracktik_ingest("
                . " (SELECT array_agg('wh:' || md5(x::text)) FROM"
                . "  jsonb_array_elements(" . $w->quote($page)
                . "::jsonb->'data') x),"
                . " (SELECT array_agg(x::text) FROM"
                . "  jsonb_array_elements(" . $w->quote($page)
                . "::jsonb->'data') x))");
            $n += $count->[0];
            last if $count->[0] < 1000;
        }
    }
    is $n, $expected, 'one webhook job per report';
    my $start = time;
    my ($rc, $log) = $w->drain('--batch-size', '500');
    is $rc, 0, 'drained' or diag substr($log, -2000);
    is $w->value('SELECT count(*) FROM incidents_ledger'), $expected,
        'one ledger row per report';
    note sprintf 'webhook jobs processed in %.1f s', time - $start;
};

# the first 300 reports also arrive by webhook in the pulled database
my @first;
{
    my $page = raw_page($MONTHS[0], 0);
    $t->rows("SELECT count(*) FROM tracktik_ingest("
             . " (SELECT array_agg('wh:' || md5(x::text)) FROM"
             . "  (SELECT x FROM jsonb_array_elements(" . $t->quote($page)
             . "::jsonb->'data') x LIMIT 300) s),"
             . " (SELECT array_agg(x::text) FROM"
             . "  (SELECT x FROM jsonb_array_elements(" . $t->quote($page)
             . "::jsonb->'data') x LIMIT 300) s))");
    my ($rc, $log) = $t->drain;
    is $rc, 0, '300 webhook jobs drained';
    is $t->value('SELECT count(*) FROM incidents_ledger'), 300,
        '300 reports in the ledger before the pull';
}

# a pull in the background, its stderr in a file
sub spawn_pull {
    my (@args) = @_;
    my $log = "$t->{dir}/pull." . time . '.log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$log.out";
        open STDERR, '>', $log;
        exec(TTWorker::binary(), 'pull', @args, '--dsn', $t->dsn)
            or die "exec: $!";
    }
    return $pid;
}

subtest '20,000 reports through 429 storms and a kill -9, resumed' => sub {
    # TrackTik's own budget, plus injected trouble on the listing
    my $st0 = $sim->state;
    my $one_by_one = ($st0->{requests}{'GET /rest/v1/clients/{id}'} // 0)
                   + ($st0->{requests}{'GET /rest/v1/positions/{id}'} // 0);
    $sim->config({ rate_limit_requests => 3, rate_limit_window => 1,
                   gateway_timeout => 1 });
    $sim->faults([
        { kind => 'status', status => 429, retryAfter => 1,
          path => '/rest/v1/reports', probability => 0.4, count => 4 },
        { kind => 'status', status => 503, path => '/rest/v1/reports',
          count => 2 },
        { kind => 'timeout', path => '/rest/v1/reports', count => 1 },
        { kind => 'delay', seconds => 0.05, path => '/rest/v1/reports' } ]);
    my $start = time;

    my $pid = spawn_pull(@RANGE, '--no-process');
    my $pages = wait_until(sub {
        my $p = $t->value('SELECT coalesce(sum(pages), 0)'
                          . ' FROM tracktik_pulls');
        return $p >= 4 ? $p : 0;
    }, 120);
    kill 'KILL', $pid;
    waitpid $pid, 0;
    ok $pages, "killed -9 after $pages pages";

    my ($cursor, $listed) = @{ ($t->rows(
        "SELECT to_char(cursor_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
        . ' listed_at IS NOT NULL FROM tracktik_pulls'))[0] };
    ok $cursor gt '2026-01-01' && $cursor lt '2026-04-30',
        "killed mid-way (the cursor at $cursor)";
    is $listed, 'f', 'not everything listed';
    is $t->value("SELECT status FROM tracktik_pulls"), 'running',
        'the pull is left unfinished';
    my $queued_before = $t->value('SELECT count(*) FROM tracktik_jobs');
    cmp_ok $queued_before, '>', 0, "$queued_before jobs queued before the kill";

    my ($rc, $out, $err) = $t->worker('pull', @RANGE);
    is $rc, 0, 'the same command again exits 0' or diag substr($err, -3000);
    like $out, qr/^pull 1 \(resumed\): /, 'it resumed pull 1';
    note sprintf 'pull with storms and resume: %.1f s', time - $start;

    my $st = $sim->state;
    my $n429 = $st->{responses}{'GET /rest/v1/reports 429'} // 0;
    cmp_ok $n429, '>', 0, "$n429 answers were 429";
    note 'of them from the budget: ' . ($st->{counters}{'http.429'} // 0);
    cmp_ok $st->{counters}{'faults.timeout'} // 0, '==', 1, 'one was a 504';
    $sim->faults([]);
    $sim->config({ rate_limit_requests => 3000, rate_limit_window => 60 });

    is $t->value('SELECT reports FROM tracktik_pulls'), $expected,
        'every report listed exactly once across the kill';
    is $t->value('SELECT pages FROM tracktik_pulls'),
        pages_for($expected, 1000),
        'in as many pages as sliding windows take (a page cut off by the '
        . 'kill is asked again, not counted twice)';
    is $sim->asked($st0, 'GET /rest/v1/positions'), 0,
        'no listing of posts: the reports include theirs';
    is $t->value("SELECT status FROM tracktik_pulls"), 'done', 'pull done';
    is $t->value('SELECT count(*) FROM tracktik_jobs'), 0, 'no job left';
    is $t->value('SELECT count(*) || \'/\' || count(DISTINCT report_id)'
                 . ' || \'/\' || max(version) FROM incidents_ledger'),
        "$expected/$expected/1", 'each report once, version 1: nothing doubled';
    cmp_ok $t->value("SELECT count(*) FROM tracktik_positions"), '>', 0,
        'posts listed into the reference table';
    is(($st->{requests}{'GET /rest/v1/clients/{id}'} // 0)
       + ($st->{requests}{'GET /rest/v1/positions/{id}'} // 0),
       $one_by_one, 'no client or post fetched one by one for the pull');

    # the ledgers, row by row, and the billing
    my $ledger = "SELECT md5(string_agg(concat_ws('|', report_id, version,"
        . " event_id, client_id, site_id, severity, category, status,"
        . " time_zone, occurred_at, updated_on), ',' ORDER BY report_id,"
        . " version)) FROM incidents_ledger";
    my $billing = "SELECT count(*) || ':' || md5(string_agg(concat_ws('|',"
        . " report_id, kind, bill_code, quantity, unit_price, service_date,"
        . " client_id, site_id), ',' ORDER BY report_id, kind, bill_code,"
        . " quantity)) FROM billing_lines";
    is $t->value($ledger), $w->value($ledger),
        'the same ledger as the webhook jobs built';
    is $t->value($billing), $w->value($billing), 'the same billing lines';
    cmp_ok $t->value('SELECT count(*) FROM billing_lines'), '>', 0,
        'and there are billing lines';
};

subtest 'pulled again: a changed report adds one version, others nothing' => sub {
    my @changed = (10500, 15000, 29000);
    for my $id (@changed) {
        my $c = $sim->admin('POST', "/__sim/reports/$id/update");
        ok $c->{updatedOn}, "report $id changed ($c->{change})";
    }
    my $before = $t->value('SELECT count(*) FROM incidents_ledger');
    my $st0 = $sim->state;
    my ($rc, $out, $err) = $t->worker('pull', @RANGE);
    is $rc, 0, 'pull exits 0' or diag $err;
    my $pages = pages_for($expected, 1000);
    my $line = "pull 2: $pages pages, $expected reports listed, 3 queued,"
             . " $pages requests ($pages for reports, 0 for clients, sites"
             . ' and posts)';
    like $out, qr/^\Q$line\E$/m,
        "a new pull of $pages pages; only the changed reports are queued";
    is $sim->asked($st0, 'GET /rest/v1/reports'), $pages,
        "TrackTik was asked for $pages pages of reports";
    is $sim->asked($st0, 'GET /rest/v1/clients') + $sim->asked($st0,
        'GET /rest/v1/positions'), 0,
        'and nothing else (the reference tables are fresh)';
    cmp_ok $pages * 10000 / $expected, '<=', 11,
        sprintf('%.1f requests per 10,000 reports over four months',
                $pages * 10000 / $expected);
    is $t->value('SELECT count(*) FROM incidents_ledger') - $before, 3,
        'three new ledger rows';
    is $t->value('SELECT string_agg(report_id || \':\' || version, \',\''
                 . ' ORDER BY report_id) FROM incidents_ledger'
                 . ' WHERE version > 1'),
        join(',', map { "$_:2" } @changed), 'version 2 of each changed report';

    ($rc, $out, $err) = $t->worker('pull', @RANGE);
    is $rc, 0, 'a third pull exits 0';
    like $out, qr/ 0 queued/, 'nothing queued';
    is $t->value('SELECT count(*) FROM incidents_ledger') - $before, 3,
        'and nothing added';
};

done_testing;
