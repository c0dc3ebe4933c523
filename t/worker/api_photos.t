#!/usr/bin/perl
# tracktik-worker run --attachment-dir: report photos (PICTURE report
# fields) fetched from the simulator into the portal's attachment store.
# The batch transaction queues them (tracktik_photos); a pass after the
# queue is idle downloads each through the API client, writes
# <dir>/<yyyy>/<file id>.png atomically and inserts portal_attachments.
# Redeliveries and new versions add nothing; a photo the simulator fails
# to serve is fetched on a later pass, and the ledger never waits for it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use IPC::Run qw(run);
use TTWorker;
use TTSim;

my $t = TTWorker->new('api_photos');
my $sim = TTSim->new(repo => TTWorker::repo(), args => [ '--history', '60' ]);
my $url = $sim->url;
my $http = HTTP::Tiny->new(timeout => 30);
my $dir = "$t->{dir}/attachments";
$t->load_contracts;

my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in to the simulator' or diag $err;

# the simulator's reports as a subscription delivers them
my $list = $sim->get('/rest/v1/reports?id:gt=0&limit=100&include='
                     . 'reportFields,reportTemplate,account,position,'
                     . 'reportFlag,createdOn,updatedOn')->{data};
my (@photo, @plain);
for my $r (@$list) {
    my @f = grep { ($_->{value} // '') =~ m{/uploads/report-photos/\d+\.png$} }
            @{ $r->{reportFields} || [] };
    if (@f) { push @photo, $r } else { push @plain, $r }
}
cmp_ok scalar(@photo), '>=', 8, 'the simulator has reports with photos'
    or BAIL_OUT('no photos to test with');

sub photo_of {
    my ($r) = @_;
    my ($f) = grep { ($_->{value} // '') =~ m{/uploads/} } @{ $r->{reportFields} };
    my ($id) = $f->{value} =~ m{/(\d+)\.png$};
    return ($id, $f->{value});
}

sub photo_calls {
    return $sim->state->{requests}{'GET /uploads/report-photos/{id}.png'} // 0;
}

sub served {
    my ($link) = @_;
    my $res = $http->get($link);
    die "GET $link: $res->{status}\n" unless $res->{success};
    return $res->{content};
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

sub drain {
    my ($rc, $log) = $t->drain('--attachment-dir', $dir, @_);
    is $rc, 0, 'drain exits 0' or diag $log;
    unlike $log, qr{Bearer|access_token|s3cr3t}, 'no token or query string in the log';
    return $log;
}

my @first = @photo[0 .. $#photo - 2];
my $late = $photo[-2];
my $gone = $photo[-1];

subtest 'reports with photos: files with the bytes TrackTik serves' => sub {
    $t->enqueue(map { [ "p-$_->{id}", $_ ] } @first, @plain[0 .. 4]);
    my $log = drain();

    is $t->value('SELECT count(*) FROM incidents_ledger'), @first + 5,
        'every report recorded';
    is $t->value('SELECT count(*) FROM portal_attachments'), scalar(@first),
        'one attachment per photo';
    is $t->value("SELECT count(*) FROM tracktik_photos WHERE state <> 'stored'"),
        0, 'nothing left in the queue';
    is photo_calls(), scalar(@first), 'each photo downloaded once';

    for my $r (@first) {
        my ($id, $link) = photo_of($r);
        my ($row) = $t->rows("SELECT report_id, name, content_type, storage_key"
                             . " FROM portal_attachments WHERE id = $id");
        ok $row, "attachment $id" or next;
        my ($year) = $r->{reportDateTime} =~ /^(\d{4})/;
        is_deeply $row, [ $r->{id}, "$id.png", 'image/png', "$year/$id.png" ],
            "attachment $id: report, name, type, key";
        my $bytes = slurp("$dir/$row->[3]");
        ok defined $bytes && $bytes eq served($link),
            "$dir/$row->[3] holds the bytes the simulator serves";
        like $log, qr/event=photo_stored file=$id report=$r->{id} /,
            "photo $id logged";
    }

    my @left = glob("$dir/*/.*.tmp");
    is scalar(@left), 0, 'no temporary file left behind';
};

subtest 'redeliveries and new versions add nothing' => sub {
    my $calls = photo_calls();
    my $rows = $t->value('SELECT count(*) FROM portal_attachments');

    $t->enqueue(map { [ "again-$_->{id}", $_ ] } @first);
    my %changed = %{ $first[0] };
    $changed{updatedOn} = '2030-01-01T00:00:00+00:00';
    $changed{status} = 'APPROVED';
    $t->enqueue([ 'version-2', \%changed ]);
    drain();

    is $t->value("SELECT max(version) FROM incidents_ledger"
                 . " WHERE report_id = $first[0]{id}"), 2,
        'the new version is recorded';
    is $t->value('SELECT count(*) FROM portal_attachments'), $rows,
        'no new attachment';
    is $t->value('SELECT count(*) FROM tracktik_photos'), $rows,
        'nothing queued twice';
    is photo_calls(), $calls, 'no photo downloaded again';
};

subtest 'a photo the simulator fails to serve is fetched on a later pass' => sub {
    my ($id, $link) = photo_of($late);
    $sim->faults([ { kind => 'status', status => 503, path => '/uploads/' } ]);

    $t->enqueue([ 'late', $late ]);
    my $log = drain();
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = $late->{id}"),
        1, 'the report is recorded without waiting for its photo';
    is $t->value("SELECT count(*) FROM portal_attachments WHERE id = $id"), 0,
        'no attachment yet';
    ok !-e "$dir/" . substr($late->{reportDateTime}, 0, 4) . "/$id.png",
        'no file yet';
    my ($q) = $t->rows("SELECT state, attempts,"
                       . " run_after >= queued_at + interval '15 seconds',"
                       . " last_error FROM tracktik_photos WHERE file_id = $id");
    is_deeply [ @$q[0 .. 2] ], [ 'pending', 1, 't' ],
        'pending, one attempt, retried 15 s or more later';
    like $q->[3], qr/503/, 'the reason is kept';
    like $log, qr/event=photo_retry file=$id report=$late->{id} attempts=1 /,
        'the retry is logged';

    $sim->faults([]);
    $t->rows("UPDATE tracktik_photos SET run_after = now() + interval '1 hour'"
             . " WHERE file_id = $id");
    drain();
    is $t->value("SELECT count(*) FROM portal_attachments WHERE id = $id"), 0,
        'not before its time';

    $t->rows("UPDATE tracktik_photos SET run_after = now() WHERE file_id = $id");
    drain();
    my $key = $t->value("SELECT storage_key FROM portal_attachments WHERE id = $id");
    ok $key, 'stored on the later pass';
    is slurp("$dir/$key"), served($link), 'with the right bytes';
    is $t->value("SELECT state || ' ' || attempts FROM tracktik_photos"
                 . " WHERE file_id = $id"), 'stored 2', 'stored after two attempts';
};

subtest 'a dropped connection is retried too' => sub {
    my ($id) = photo_of($gone);
    # a pre-signed link's query never reaches the log
    $_->{value} .= '?signature=s3cr3t'
        for grep { ($_->{value} // '') =~ m{/uploads/} } @{ $gone->{reportFields} };
    $sim->faults([ { kind => 'drop', path => '/uploads/' } ]);
    $t->enqueue([ 'gone', $gone ]);
    my $log = drain();
    like $log, qr/event=photo_retry file=$id /, 'retried later';
    is $t->value("SELECT state FROM tracktik_photos WHERE file_id = $id"),
        'pending', 'pending after the drop';
    $sim->faults([]);
    $t->rows("UPDATE tracktik_photos SET run_after = now() WHERE file_id = $id");
    drain();
    is $t->value("SELECT state FROM tracktik_photos WHERE file_id = $id"),
        'stored', 'stored on the next pass';
    is $t->value("SELECT storage_key FROM portal_attachments WHERE id = $id"),
        substr($gone->{reportDateTime}, 0, 4) . "/$id.png",
        'the query is not part of the key';
};

subtest 'what is not a photo of this tenant is never stored' => sub {
    my $calls = photo_calls();
    my $base = report_json(id => 95001, account => { id => 102,
        parentClient => 101, timeZone => 'America/Toronto' });
    $base->{reportFields} = [
        # another host: the token never leaves the tenant
        { fieldTag => 'photo', templateField => 72,
          value => 'http://127.0.0.2:9/uploads/report-photos/95101.png' },
        # a TEXT field (TrackTik says so) holding a link
        { fieldTag => 'persons', templateField => 61,
          value => "$url/uploads/report-photos/95102.png" },
        # a TEXT field, type included in the body: not even queued
        { fieldTag => 'persons', templateField => { id => 61, type => 'TEXT' },
          value => "$url/uploads/report-photos/95103.png" },
        # a PICTURE field whose link answers JSON
        { fieldTag => 'photo', templateField => 72,
          value => "$url/rest/v1/positions/500" },
    ];
    $t->enqueue([ 'odd', $base ]);
    drain();

    is_deeply [ $t->rows("SELECT file_id, state FROM tracktik_photos"
                         . " WHERE report_id = 95001 ORDER BY file_id") ],
        [ [ 500, 'skipped' ], [ 95101, 'skipped' ], [ 95102, 'skipped' ] ],
        'queued, then skipped; the typed TEXT field is not queued';
    like $t->value("SELECT last_error FROM tracktik_photos WHERE file_id = 95101"),
        qr/not a URL of the tenant/, 'another host is refused';
    like $t->value("SELECT last_error FROM tracktik_photos WHERE file_id = 95102"),
        qr/not a PICTURE field/, 'a TEXT field is refused';
    like $t->value("SELECT last_error FROM tracktik_photos WHERE file_id = 500"),
        qr/content type "application\/json"/, 'a non-image answer is refused';
    is $t->value("SELECT count(*) FROM portal_attachments WHERE report_id = 95001"),
        0, 'no attachment';
    is photo_calls(), $calls, 'no photo link was asked for';
};

subtest 'a page served as image/png is not stored' => sub {
    my $report = report_json(id => 95201, account => { id => 102,
        parentClient => 101, timeZone => 'America/Toronto' });
    $report->{reportFields} = [
        { fieldTag => 'photo', templateField => 72,
          value => "$url/uploads/report-photos/95211.png" },
    ];
    $sim->faults([ { kind => 'mislabel', path => '/uploads/' } ]);
    $t->enqueue([ 'mislabelled', $report ]);
    drain();
    $sim->faults([]);

    is $t->value("SELECT state FROM tracktik_photos WHERE file_id = 95211"),
        'skipped', 'skipped, not stored';
    like $t->value("SELECT last_error FROM tracktik_photos"
                   . " WHERE file_id = 95211"),
        qr/bytes are not such an image/, 'says why';
    is $t->value("SELECT count(*) FROM portal_attachments WHERE id = 95211"),
        0, 'no attachment';
};

subtest 'a photo whose template field is confidential is never fetched' => sub {
    my ($status) = $sim->admin('PATCH',
        '/__sim/resources/report-template-fields/72', { confidential => 1 });
    is $status, 200, 'template field 72 is now confidential';
    my $calls = photo_calls();
    my $report = report_json(id => 95301, account => { id => 102,
        parentClient => 101, timeZone => 'America/Toronto' });
    # only the template field's id: its flags are TrackTik's to tell
    $report->{reportFields} = [
        { fieldTag => 'photo', templateField => 72,
          value => "$url/uploads/report-photos/95311.png" },
    ];
    $t->enqueue([ 'confidential', $report ]);
    drain();
    $sim->admin('PATCH', '/__sim/resources/report-template-fields/72',
                { confidential => 0 });

    is $t->value("SELECT state FROM tracktik_photos WHERE file_id = 95311"),
        'skipped', 'skipped';
    like $t->value("SELECT last_error FROM tracktik_photos"
                   . " WHERE file_id = 95311"),
        qr/template field 72 is confidential or adminOnly/, 'says why';
    is photo_calls(), $calls, 'the photo link was never asked for';
    is $t->value("SELECT count(*) FROM portal_attachments WHERE id = 95311"),
        0, 'no attachment';
};

subtest 'storage keys: relative, no "..", as the table requires' => sub {
    my @keys = map { $_->[0] } $t->rows('SELECT storage_key FROM portal_attachments');
    ok @keys > 0, 'there are keys';
    is scalar(grep { !m{^\d{4}/\d+\.png$} } @keys), 0,
        'every key is <yyyy>/<file id>.png';
    for my $bad ('../etc/passwd', '/etc/passwd', '2026/../../x.png') {
        like $t->sql_error("INSERT INTO portal_attachments (id, report_id, name,"
                           . " content_type, storage_key) VALUES (1, 1, 'x',"
                           . " 'image/png', '$bad')"),
            qr/check constraint/, "the table refuses $bad";
    }
};

done_testing;
