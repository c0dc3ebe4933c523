#!/usr/bin/perl
# tracktik-worker pull --site / --client / --page-size / --include: only
# those reports are listed and queued, in the requests sliding windows
# take; reports of one second across page boundaries (more of them than
# a page holds), a pull stopped among them and resumed, and a second that
# changes under the pull: every report queued once; a client's sites
# answered as deeply nested JSON: a clear error, nothing queued; and the
# windows of awkward ranges and cursors (a 31st, leap days, a range
# shorter than a day) are accepted by TrackTik's :between rule.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use TTWorker;
use TTSim;
use TTPull;

my $t = TTWorker->new('pull_filters');
my $sim = TTSim->new(repo => TTWorker::repo());
my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in' or diag $err;

$sim->admin('POST', '/__sim/reports', { count => 600, from => '2026-01-01',
                                        to => '2026-02-28', seed => 5 });
my @RANGE = ('--from', '2026-01-01', '--to', '2026-02-28');
my @WINDOWS = ('2026-01-01T00:00:00Z%7C2026-01-31T23:59:59Z',
               '2026-02-01T00:00:00Z%7C2026-02-28T23:59:59Z');

my $INCLUDE = 'reportFields,reportTemplate,account,position,reportFlag,'
            . 'createdOn,updatedOn';

sub sim_count {
    my ($filter) = @_;
    my $n = 0;
    $n += $sim->get("/rest/v1/reports?reportDateTime:between=$_&limit=1"
                    . "&$filter")->{meta}{count} for @WINDOWS;
    return $n;
}

subtest '--site: that site only' => sub {
    my $want = sim_count('account=102');
    cmp_ok $want, '>', 30, "$want reports of site 102";
    my $st0 = $sim->state;
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--site', '102',
                                      '--no-process');
    is $rc, 0, 'exit 0' or diag $err;
    # less than a page a month: a short page each, and the clients once
    my $line = "pull 1: 2 pages, $want reports listed, $want queued,"
             . ' 3 requests (2 for reports, 1 for clients, sites and posts)';
    like $out, qr/^\Q$line\E$/m,
        'all listed, queued, in a page a month and the clients\' listing';
    is $sim->asked($st0, 'GET /rest/v1/reports') . '/'
       . $sim->asked($st0, 'GET /rest/v1/clients') . '/'
       . $sim->asked($st0, 'GET /rest/v1/positions'), '2/1/0',
        'as TrackTik counted them (posts come with the reports)';
    is $t->value("SELECT string_agg(DISTINCT payload->'account'->>'id', ',')"
                 . " FROM tracktik_jobs"), '102', 'every job of site 102';
    cmp_ok $t->value('SELECT count(*) FROM tracktik_positions'), '>', 0,
        'the posts the reports include, stored';

    $st0 = $sim->state;
    ($rc, $out, $err) = $t->worker('pull', @RANGE, '--site', '102',
                                   '--no-process', '--page-size', '10');
    is $rc, 0, 'again, 10 a page: exit 0' or diag $err;
    my ($pages) = $out =~
        /^pull 2: (\d+) pages, $want reports listed, 0 queued, \1 requests/m;
    ok $pages, 'all listed, nothing queued twice, no reference listing'
        or diag $out;
    is $sim->asked($st0, 'GET /rest/v1/reports'), $pages,
        "$pages requests, as TrackTik counted them";
    # at most one short page a month more than full pages would take
    cmp_ok $pages, '>=', pages_for($want, 10), 'pages of at most 10';
    cmp_ok $pages, '<=', pages_for($want, 10) + 2,
        'short only where a month held less than a page';
};

subtest '--page-size 1 is refused: a page repeats the last report' => sub {
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--page-size', '1');
    is $rc, 2, 'exit 2';
    like $err, qr/page-size/, 'naming the option';
};

subtest '--include without the posts: they are listed instead' => sub {
    $t->rows('UPDATE tracktik_positions SET fetched_at = now() - interval'
             . " '1 day'");
    my $st0 = $sim->state;
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--site', '102',
                                      '--no-process', '--include',
                                      'reportFields,account');
    is $rc, 0, 'exit 0' or diag $err;
    like $out,
        qr/, 3 requests \(2 for reports, 1 for clients, sites and posts\)$/m,
        'one reference listing';
    is $sim->asked($st0, 'GET /rest/v1/positions'), 1, 'of the posts';
    is $t->value("SELECT count(*) FROM tracktik_positions"
                 . " WHERE fetched_at < now() - interval '1 hour'"), 0,
        'every post fresh again';
};

subtest '--client: the sites of that client' => sub {
    my @sites = map { $_->{id} } @{ $sim->get(
        '/rest/v1/clients?parentClient=101&includeInactive=true')->{data} };
    cmp_ok scalar(@sites), '>=', 2, "client 101 has sites @sites";
    my $want = sim_count('account:in=' . join(',', @sites));
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--client', '101',
                                      '--no-process');
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/ $want reports listed/, "$want listed";
    my %mine = map { $_ => 1 } @sites;
    my @accounts = map { $_->[0] } $t->rows(
        "SELECT DISTINCT payload->'account'->>'id' FROM tracktik_jobs");
    is_deeply [ grep { !$mine{$_} } @accounts ], [],
        'no job of another client';
    cmp_ok scalar(@accounts), '>', 1, 'reports of several of its sites';
};

# reports of one second, n of them, plus some a second before and after
sub tie_day {
    my ($day, $n) = @_;
    my %ids;
    for ([ "${day}T11:59:59", 4 ], [ "${day}T12:00:00", $n ],
         [ "${day}T12:00:01", 3 ]) {
        my $m = $sim->admin('POST', '/__sim/reports',
                            { count => $_->[1], at => $_->[0], seed => 3 });
        $ids{$_} = 1 for $m->{first} .. $m->{last};
    }
    return \%ids;
}

# the report ids of the jobs queued for day (each as often as queued)
sub queued_ids {
    my ($day) = @_;
    return [ map { $_->[0] } $t->rows(
        "SELECT (payload->>'id')::bigint FROM tracktik_jobs"
        . " WHERE payload->>'reportDateTime' LIKE '$day%' ORDER BY 1") ];
}

subtest 'one second holding more than a page, across page boundaries' => sub {
    my $ids = tie_day('2026-03-10', 23);
    my $n = keys %$ids;
    my $st0 = $sim->state;
    my ($rc, $out, $err) = $t->worker('pull', '--from', '2026-03-10',
                                      '--to', '2026-03-10', '--no-process',
                                      '--page-size', '10');
    is $rc, 0, 'exit 0' or diag $err;
    my $pages = pages_for($n, 10);
    like $out, qr/: $pages pages, $n reports listed, $n queued, /,
        "$n reports in $pages pages of 10";
    is $sim->asked($st0, 'GET /rest/v1/reports'), $pages, 'as TrackTik counted';
    is_deeply queued_ids('2026-03-10'), [ sort { $a <=> $b } keys %$ids ],
        'each report queued once';
};

subtest 'stopped among the reports of one second, resumed' => sub {
    my $ids = tie_day('2026-03-11', 23);
    my $n = keys %$ids;
    # the third page fails for good: the cursor is inside the second
    $sim->faults([ { kind => 'status', status => 400,
                     path => '/rest/v1/reports', after => 2, count => 1 } ]);
    my @pull = ('pull', '--from', '2026-03-11', '--to', '2026-03-11',
                '--no-process', '--page-size', '10');
    my ($rc, $out, $err) = $t->worker(@pull);
    is $rc, 1, 'the pull fails' or diag $err;
    like $err, qr/TrackTik answered HTTP 400.*run the same command again/,
        'saying it can be continued';
    my ($at, $taken) = @{ ($t->rows(
        "SELECT to_char(cursor_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),"
        . " cursor_taken FROM tracktik_pulls ORDER BY id DESC LIMIT 1"))[0] };
    is "$at $taken", '12:00:00 15',
        'stopped with 15 of the 23 reports of 12:00:00 queued';
    $sim->faults([]);
    ($rc, $out, $err) = $t->worker(@pull);
    is $rc, 0, 'the same command again' or diag $err;
    like $out, qr/^pull \d+ \(resumed\): 2 pages, 11 reports listed, 11 queued/,
        'it lists the rest (8 of that second, 3 after) in two pages, each'
        . ' repeating the report queued last (not counted again)';
    is_deeply queued_ids('2026-03-11'), [ sort { $a <=> $b } keys %$ids ],
        'each report queued once';
};

subtest 'a second that changes under the pull is listed again' => sub {
    my $ids = tie_day('2026-03-12', 23);
    my $n = keys %$ids;
    # the second page as TrackTik would answer it had the report the
    # first page ended on (the sixth of 12:00:00) been moved elsewhere
    my $second = $sim->get('/rest/v1/reports?reportDateTime:between='
        . '2026-03-12T12:00:00Z%7C2026-03-12T23:59:59Z'
        . '&sort=reportDateTime,id&limit=10&offset=5&include=' . $INCLUDE);
    my $moved = shift @{ $second->{data} };
    $sim->faults([ { kind => 'body', path => '/rest/v1/reports',
                     query => 'offset=5', count => 1,
                     body => JSON::PP->new->encode($second) } ]);
    my ($rc, $out, $err) = $t->worker('pull', '--from', '2026-03-12',
                                      '--to', '2026-03-12', '--no-process',
                                      '--page-size', '10');
    is $rc, 0, 'exit 0' or diag $err;
    like $err, qr/restarts=1/, 'the second listed again';
    # 6 of 12:00:00 queued before the restart are listed again, not queued
    like $out, qr/ ${\($n + 6)} reports listed, $n queued/,
        'its reports queued before listed again but not queued again';
    is_deeply queued_ids('2026-03-12'), [ sort { $a <=> $b } keys %$ids ],
        "each report queued once, $moved->{id} included";
    $sim->faults([]);
};

subtest "a client's sites as deeply nested JSON: refused, nothing queued" => sub {
    my $jobs = $t->value('SELECT count(*) FROM tracktik_jobs');
    my $depth = 2_000_000;
    $sim->faults([ { kind => 'body', path => '/rest/v1/clients',
                     query => 'parentClient=101', count => 1,
                     body => '{"data":' . ('[' x $depth) . (']' x $depth)
                             . '}' } ]);
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--client', '101',
                                      '--no-process');
    is $rc, 1, 'the pull fails (exit 1, no crash)' or diag "$? $err";
    my $why = 'the sites of client 101: the answer is not a list: nested'
            . ' deeper than 64 levels';
    like $err, qr/\Q$why\E/,
        'saying why';
    is $t->value('SELECT count(*) FROM tracktik_jobs'), $jobs,
        'nothing queued';
    $sim->faults([]);
};

subtest 'windows: contiguous, at most a month, accepted by TrackTik' => sub {
    for my $range ([ '2026-01-31', '2026-04-30 23:59:59' ],
                   [ '2028-01-29 12:00', '2028-03-29 11:59:59' ],
                   [ '2026-03-05 10:00', '2026-03-05 10:00' ],
                   [ '2025-12-15', '2026-12-14 23:59:59' ]) {
        my @w = $t->rows("SELECT window_no, starts_at AT TIME ZONE 'UTC',"
            . " ends_at AT TIME ZONE 'UTC',"
            . " to_char(starts_at AT TIME ZONE 'UTC',"
            . "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            . " to_char(ends_at AT TIME ZONE 'UTC',"
            . "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            . " FROM tracktik_pull_windows_of('$range->[0]+00',"
            . " '$range->[1]+00') ORDER BY 1");
        ok @w >= 1, scalar(@w) . " windows for @$range";
        is $w[0][1], "$range->[0]" =~ /:/ ? "$range->[0]:00"
                     : "$range->[0] 00:00:00", 'the first starts at from';
        is $w[-1][2], $range->[1] =~ /:\d\d:/ ? $range->[1]
                      : "$range->[1]:00", 'the last ends at to';
        is $t->value("SELECT count(*) FROM tracktik_pull_windows_of("
                     . "'$range->[0]+00', '$range->[1]+00') a"
                     . " JOIN tracktik_pull_windows_of('$range->[0]+00',"
                     . " '$range->[1]+00') b ON b.window_no = a.window_no + 1"
                     . " WHERE b.starts_at <> a.ends_at + interval '1 s'"), 0,
            'no gap, no overlap';
        my @refused = grep {
            my ($status) = $sim->_call('GET', "/rest/v1/reports?"
                . "reportDateTime:between=$_->[3]%7C$_->[4]&limit=1", undef,
                { Authorization => 'Bearer ' . $sim->token });
            $status != 200 } @w;
        is scalar(@refused), 0, 'TrackTik accepts every window';
    }
};

subtest 'sliding windows from awkward cursors: a month, accepted' => sub {
    my $status = sub {
        my ($from, $to) = @_;
        my ($st) = $sim->_call('GET', "/rest/v1/reports?reportDateTime:"
            . "between=$from%7C$to&limit=1", undef,
            { Authorization => 'Bearer ' . $sim->token });
        return $st;
    };
    for my $cursor ('2026-01-31 10:00:00', '2028-02-29 12:00:00',
                    '2025-12-31 23:59:59', '2026-01-30 00:00:00',
                    '2026-02-28 00:00:01') {
        my ($from, $to, $over) = @{ ($t->rows(
            "SELECT to_char(c, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            . " to_char(e, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            . " to_char(e + interval '2 s', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            . " FROM (SELECT timestamp '$cursor' AS c,"
            . "  tracktik_pull_window_end(timestamptz '$cursor+00',"
            . "  'infinity') AT TIME ZONE 'UTC' AS e) w"))[0] };
        is $status->($from, $to), 200, "$from to $to accepted";
        is $status->($from, $over), 400,
            '... and as long as TrackTik allows (two seconds more are not)';
    }
};

done_testing;
