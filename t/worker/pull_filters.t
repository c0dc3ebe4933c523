#!/usr/bin/perl
# tracktik-worker pull --site / --client: only those reports are listed
# and queued; and the one-month windows of awkward ranges (a 31st, leap
# days, a range shorter than a day) are contiguous and accepted by
# TrackTik's :between rule.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;
use TTSim;

my $t = TTWorker->new('pull_filters');
my $sim = TTSim->new(repo => TTWorker::repo());
my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in' or diag $err;

$sim->admin('POST', '/__sim/reports', { count => 600, from => '2026-01-01',
                                        to => '2026-02-28', seed => 5 });
my @RANGE = ('--from', '2026-01-01', '--to', '2026-02-28');
my @WINDOWS = ('2026-01-01T00:00:00Z%7C2026-01-31T23:59:59Z',
               '2026-02-01T00:00:00Z%7C2026-02-28T23:59:59Z');

sub sim_count {
    my ($filter) = @_;
    my $n = 0;
    $n += $sim->get("/rest/v1/reports?reportDateTime:between=$_&limit=1"
                    . "&$filter")->{meta}{count} for @WINDOWS;
    return $n;
}

subtest '--site: that site only' => sub {
    my $want = sim_count('account=102');
    cmp_ok $want, '>', 10, "$want reports of site 102";
    my ($rc, $out, $err) = $t->worker('pull', @RANGE, '--site', '102',
                                      '--no-process');
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/ $want reports listed, $want queued/, 'all listed, queued';
    is $t->value("SELECT string_agg(DISTINCT payload->'account'->>'id', ',')"
                 . " FROM tracktik_jobs"), '102', 'every job of site 102';

    ($rc, $out, $err) = $t->worker('pull', @RANGE, '--site', '102',
                                   '--no-process', '--page-size', '10');
    is $rc, 0, 'again, 10 a page: exit 0' or diag $err;
    my $pages = 0;
    $pages += int(($_ + 9) / 10) for map { $_->[0] } $t->rows(
        'SELECT reports FROM tracktik_pull_windows WHERE pull_id = 2');
    like $out, qr/^pull 2: 2 windows, $pages pages, $want reports listed, 0 queued/,
        "$pages pages of at most 10, nothing queued twice";
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

done_testing;
