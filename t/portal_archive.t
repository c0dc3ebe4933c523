#!/usr/bin/perl
# The auditor's archive through the portal (doc/archive.md): a client
# user and an operator queue archives with a same-origin POST, the worker
# builds them (`tracktik-worker archive build --once`), nginx serves the
# zip through the attachment store's internal location.  Checked: the
# dedupe of an identical pending request, bad periods (400), another
# client's id (403), cross-origin POST (403), GET on the queueing route
# (405), 409 while queued, the list scoped to the user, the download's
# bytes equal to the recorded SHA-256 and every file to the manifest, no
# confidential or admin-only field or hidden photo in it, and another
# client's user, a site-restricted user and no session kept out (404,
# 401).

use strict;
use warnings;

use lib 't/helper';
use lib 't/worker/lib';
use Archive::Zip qw(:ERROR_CODES);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use File::Temp ();
use JSON::PP;
use Test::More;
use TrackTikTest;
use TTWorker;

my $Run = time() % 100000000 * 100 + $$ % 100;
my ($A, $B) = ($Run * 10 + 1, $Run * 10 + 2);
my ($A1, $A2, $B1) = ($A * 10 + 1, $A * 10 + 2, $B * 10 + 1);
my $Secret = 'portal-session-secret-' . ('x' x 32) . $$;
my $Password = 'correct horse battery';

my $tmp = File::Temp->newdir('tt-archive-XXXXXX', TMPDIR => 1);
my $store = "$tmp/store";
make_path("$store/run$Run");
my $secret_file = tt_write_file("$tmp/session.secret", "$Secret\n");

sub ledger {
    my ($report, $client, $site, $status, $day) = @_;
    my $r = TrackTikFixture::json('ledger/confidential-fields.json');
    my ($plain, $confidential, $admin) = @{ $r->{reportFields} };
    $plain->{value} = "walked the fence $report";
    $confidential->{value} = "SECRETCONF $report";
    $admin->{value} = "SECRETADMIN $report";
    push @{ $r->{reportFields} }, { label => 'Hidden photo',
        confidential => JSON::PP::true,
        value => "https://tenant.test/uploads/report-photos/${report}9.png" };
    my $raw = TrackTikFixture::encode({ %$r, id => $report,
        account => { id => $site, name => "Site $site" } });
    $raw =~ s/'/''/g;
    tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
           . "occurred_at, client_id, site_id, severity, category, "
           . "report_template, status, time_zone, raw, raw_sha256) VALUES "
           . "('t:$report:1', $report, 1, '$day 12:00Z', $client, $site, "
           . "'HIGH', 'After hours dispatch', 'Incident Report', '$status', "
           . "'UTC', '$raw', 'x')");
}

my %R = (a1 => $A * 100 + 1, a2 => $A * 100 + 2, a_new => $A * 100 + 3,
         b1 => $B * 100 + 1);
ledger($R{a1}, $A, $A1, 'APPROVED', '2026-03-02');
ledger($R{a2}, $A, $A2, 'APPROVED', '2026-03-03');
ledger($R{a_new}, $A, $A1, 'NEW', '2026-03-04');
ledger($R{b1}, $B, $B1, 'APPROVED', '2026-03-05');

# photos: one shown per report, and the one a confidential field names
my %photo = (a1 => $R{a1} * 10 + 5, a2 => $R{a2} * 10 + 5,
             hidden => $R{a1} * 10 + 9, b1 => $R{b1} * 10 + 5);
for my $k (sort keys %photo) {
    my $report = $k eq 'hidden' ? $R{a1} : $R{$k};
    tt_write_file("$store/run$Run/$photo{$k}.png", "PNG $k");
    tt_sql("INSERT INTO portal_attachments VALUES ($photo{$k}, $report, "
           . "'$k.png', 'image/png', 'run$Run/$photo{$k}.png')");
}

my %U = (alice => "alice.$Run\@client-a.test",
         ann => "ann.$Run\@client-a.test",
         bob => "bob.$Run\@client-b.test",
         ops => "ops.$Run\@guards.test");
tt_sql("SELECT portal_user_add('$U{alice}', '$Password', 'client', $A, NULL)");
tt_sql("SELECT portal_user_add('$U{ann}', '$Password', 'client', $A, "
       . "ARRAY[$A2]::bigint[])");
tt_sql("SELECT portal_user_add('$U{bob}', '$Password', 'client', $B, NULL)");
tt_sql("SELECT portal_user_add('$U{ops}', '$Password', 'operator', NULL, "
       . "NULL)");
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.9'");
my %C = map {
    $_ => tt_session_cookie(tt_sql("SELECT next FROM ("
              . tt_login_sql($U{$_}, $Password, '127.0.0.9', 3600) . ") l"),
          $Secret)
} keys %U;

my $dsn = tt_dsn();
my $ngx = TrackTikTest::Nginx->start(
    http => qq(    tracktik_postgres "$dsn" pool=1 portal_pool=2;\n),
    server => <<"SERVER",
        tracktik_session_secret_file $secret_file;
        location /portal/api/ {
            tracktik_portal_api;
        }
        location /_tracktik_attachments/ {
            internal;
            alias $store/;
        }
SERVER
);
my $origin = 'http://127.0.0.1:' . $ngx->port;

sub api {
    my ($method, $who, $path, %h) = @_;
    my %headers = (($who ? (Cookie => $C{$who}) : ()), %h);
    $headers{Origin} //= $origin if $method eq 'POST';
    my ($status, $hdr, $body) = $method eq 'POST'
        ? tt_post($ngx->url("/portal/api/$path"), '', \%headers)
        : tt_get($ngx->url("/portal/api/$path"), \%headers);
    my $json = eval { decode_json($body) };
    return ($status, $json, $body, $hdr);
}

sub build {
    my ($rc, $out, $err) = (undef, '', '');
    IPC::Run::run([ TTWorker::binary(), 'archive', 'build', '--once',
                    '--attachment-dir', $store, '--dsn', $dsn ],
                  \undef, \$out, \$err, IPC::Run::timeout(180));
    is $? >> 8, 0, 'the worker built the queue' or diag $err;
}

my $march = 'from=2026-03-01&to=2026-03-31';

my ($st, $j, $body, $h) = api(POST => 'alice', "archive?$march");
is $st, 202, 'a client user queues an archive' or diag $body;
is $j->{state}, 'queued', 'queued';
is $j->{client_id}, $A, 'of its own client';
my $a_id = $j->{id};

($st, $j) = api(POST => 'alice', "archive?$march");
is_deeply [ $st, $j->{id} ], [ 202, $a_id ],
          'the same request again: the pending one';

($st, $j) = api(POST => 'ops', "archive?$march&client=$A");
is $j->{id}, $a_id, 'an operator\'s identical request too';

($st, $j) = api(POST => 'ops', "archive?$march&client=$B");
is $st, 202, 'an operator queues one for any client';
my $b_id = $j->{id};
isnt $b_id, $a_id, 'another archive';

for my $bad ([ 'alice', "archive?$march&client=$B", 403, 'another client' ],
             [ 'alice', 'archive?from=2026-03-31&to=2026-03-01', 400,
               'backwards' ],
             [ 'alice', 'archive?from=2025-01-01&to=2026-01-02', 400,
               'over 366 days' ],
             [ 'alice', 'archive?from=2026-02-30&to=2026-03-01', 400,
               'no such day' ],
             [ 'alice', 'archive?from=yesterday&to=2026-03-01', 400,
               'not a date' ],
             [ 'alice', 'archive?to=2026-03-01', 400, 'no from' ],
             [ 'ops', "archive?$march", 400, 'an operator names no client' ],
             [ 'ops', "archive?$march&client=1x", 400, 'a bad client id' ],
             [ undef, "archive?$march", 401, 'no session' ]) {
    my ($who, $path, $want, $what) = @$bad;
    ($st, $j, $body) = api(POST => $who, $path);
    is $st, $want, "$what: $want" or diag $body;
}
is tt_sql("SELECT count(*) FROM tracktik_archives WHERE client_id IN "
          . "($A, $B)"), 2, 'the refused requests queued nothing';

($st) = api(POST => 'alice', "archive?$march", Origin => 'http://evil.test');
is $st, 403, 'a cross-origin POST is refused';
($st) = api(GET => 'alice', "archive?$march");
is $st, 405, 'GET does not queue';

($st, $j) = api(GET => 'alice', "archive/$a_id");
is_deeply [ $st, $j->{state} ], [ 409, 'queued' ],
          'not built yet: 409 with its state';

build();

($st, $j) = api(GET => 'alice', 'archives');
my @mine = grep { $_->{id} == $a_id || $_->{id} == $b_id } @{ $j->{items} };
is_deeply [ map { [ $_->{id}, $_->{state} ] } @mine ], [ [ $a_id, 'ready' ] ],
          'alice lists her client\'s archive, ready, not the other';
is $mine[0]{url}, "/portal/api/archive/$a_id", 'with its download';
($st, $j) = api(GET => 'ops', 'archives');
is scalar(grep { $_->{id} == $a_id || $_->{id} == $b_id } @{ $j->{items} }),
   2, 'the operator lists both';

($st, $j, $body, $h) = api(GET => 'alice', "archive/$a_id");
is $st, 200, 'the download' or diag $body;
is $h->{'content-type'}, 'application/zip', 'a zip';
like $h->{'content-disposition'},
     qr/^attachment; filename="tracktik-archive-$A-2026-03-01-2026-03-31\.zip"$/,
     'named for its client and period';
my ($sha, $size, $key) = split /\|/, tt_sql("SELECT sha256, size, file_key "
    . "FROM tracktik_archives WHERE id = $a_id");
is sha256_hex($body), $sha, 'the bytes the worker recorded';
is length($body), $size, 'all of them';
unlike join('', values %$h), qr/\Q$key\E|archives\//,
       'the store key is not shown';

sub unzip {
    my ($bytes) = @_;
    open my $fh, '<', \$bytes or die $!;
    my $zip = Archive::Zip->new;
    return undef unless $zip->readFromFileHandle($fh) == AZ_OK;
    return { map { $_->fileName => scalar $zip->contents($_->fileName) }
             $zip->members };
}

my $files = unzip($body);
ok $files, 'it unzips';
my $m = decode_json($files->{'manifest.json'});
for my $f (@{ $m->{files} }) {
    is sha256_hex($files->{ $f->{name} }), $f->{sha256},
       "$f->{name} matches the manifest";
}
is scalar @{ $m->{files} }, keys(%$files) - 1,
   'the manifest names every other file';
is_deeply [ sort grep { m{^photos/} } keys %$files ],
          [ sort "photos/$R{a1}/$photo{a1}.png",
                 "photos/$R{a2}/$photo{a2}.png" ],
          'the photos shown, not the hidden one';
like $files->{'incidents.csv'}, qr/^$R{a1},1,.*\r\n$R{a2},1,/m,
     'the approved incidents';
my $all = join '', values %$files;
unlike $all, qr/SECRETCONF|SECRETADMIN|$photo{hidden}|$R{a_new}|$R{b1}/,
       'no hidden field or photo, unapproved report or other client';

($st) = api(GET => 'bob', "archive/$a_id");
is $st, 404, 'another client\'s user cannot download it';
($st) = api(GET => 'ann', "archive/$a_id");
is $st, 404, 'nor a user limited to some of the client\'s sites';
($st) = api(GET => undef, "archive/$a_id");
is $st, 401, 'nor anyone without a session';
($st) = api(GET => 'alice', 'archive/99999999999');
is $st, 404, 'an unknown id: 404';

# the site-restricted user gets an archive of her sites only
($st, $j) = api(POST => 'ann', "archive?$march");
is $st, 202, 'ann queues her own';
my $ann_id = $j->{id};
isnt $ann_id, $a_id, 'a scope of its own';
build();
($st, $j, $body) = api(GET => 'ann', "archive/$ann_id");
is $st, 200, 'and downloads it';
$files = unzip($body);
like $files->{'incidents.csv'}, qr/^$R{a2},/m, 'her site';
unlike $files->{'incidents.csv'}, qr/^$R{a1},/m, 'not the other site';
($st) = api(GET => 'alice', "archive/$ann_id");
is $st, 404, 'alice (all sites) does not see ann\'s';

$ngx->stop;
done_testing;
