#!/usr/bin/perl
# The auditor's archive (doc/archive.md): `archive create` from the
# command line and `archive build` for the portal's queue.  Reports go
# through real jobs (ledger, versions, billing by the example contract);
# photos are files in an attachment store.  The zip is unpacked and every
# file checked against the manifest's SHA-256 and size; the CSV rows
# against the ledger; the billing totals against billing_lines; the
# workbook is a zip holding both sheets with the expected cells; no
# confidential or admin-only field, no photo a hidden field names, no row
# of another client, site or an unapproved report, in any file.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Archive::Zip qw(:ERROR_CODES);
use IPC::Run ();
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use JSON::PP;
use TTWorker;
use TrackTikTest ();

my $t = TTWorker->new('archive');
# priority, code, category, quantity, price
my @rules = ([ 10, 'ADH', 'After hours dispatch', 1.0, 95 ],
             [ 20, 'GRD', 'Theft', 2, 40 ]);
$t->load_contracts($t->file('contracts.json', TTWorker::json_encode({
    name => 'archive test', effective_from => '2020-01-01',
    rules => [ map { +{ id => lc $_->[1], priority => $_->[0],
                        match => { category => $_->[2] },
                        bill_code => $_->[1], quantity => $_->[3],
                        unit_price => $_->[4] } } @rules ] })));

my $store = "$t->{dir}/store";
make_path("$store/2026");

my ($A, $B) = (7101, 7102);             # clients
my ($A1, $A2, $B1) = (71011, 71012, 71021);

# fields: a plain one, a formula (CSV injection), a confidential one, an
# admin-only one, and a photo that each hidden field names
sub fields {
    my ($id) = @_;
    my @plain = ({ label => 'Narrative', value => "walked the fence $id" },
                 { label => 'Remark',
                   value => '=HYPERLINK("http://evil.test")' });
    # longer than a workbook cell may hold
    push @plain, { label => 'Long', value => 'L' x 40000 } if $id == 81003;
    return [
        @plain,
        { label => 'Internal note', value => "SECRETCONF $id",
          confidential => JSON::PP::true },
        { label => 'Admin', value => "SECRETADMIN $id",
          templateField => { adminOnly => JSON::PP::true } },
        { label => 'Hidden photo', confidential => JSON::PP::true,
          value => "https://tenant.test/uploads/report-photos/${id}9.png" },
    ];
}

sub report {
    my ($id, $client, $site, $day, %o) = @_;
    return [ "r$id-" . ($o{updatedOn} // ''), report_json(
        id => $id, reportDateTime => "${day}T15:00:00Z",
        # a site name a spreadsheet would run (CSV injection)
        account => { id => $site,
                     name => $id == 81001 ? '@SUM(1+1)' : "Site $site",
                     parentClient => $client, timeZone => 'UTC' },
        reportFields => fields($id), %o) ];
}

$t->enqueue(
    report(81001, $A, $A1, '2026-03-01'),
    report(81002, $A, $A2, '2026-03-05', category => 'Theft'),
    report(81003, $A, $A1, '2026-03-09'),
    report(81004, $A, $A1, '2026-03-10', status => 'NEW'),  # not approved
    report(81005, $A, $A1, '2026-04-02'),                    # after the period
    report(81006, $B, $B1, '2026-03-03'),                    # another client
);
my ($rc, $err) = $t->drain;
is $rc, 0, 'the reports are recorded' or diag $err;
# 81003 changes: a second version (a credit line and a new charge)
$t->enqueue(report(81003, $A, $A1, '2026-03-09',
                   updatedOn => '2026-03-12T00:00:00Z',
                   category => 'Theft'));
($rc, $err) = $t->drain;
is $rc, 0, 'and a new version' or diag $err;

# photos: one shown for 81001 and 81002, one a confidential field names
# (81001's "Hidden photo"), one of the other client
for my $p ([ 910001, 81001 ], [ 910002, 81002 ], [ 810019, 81001 ],
           [ 910006, 81006 ]) {
    my ($id, $report) = @$p;
    open my $fh, '>', "$store/2026/$id.png" or die $!;
    print $fh "PNG of $id for $report";
    close $fh;
    $t->rows("INSERT INTO portal_attachments VALUES ($id, $report, "
             . "'$id.png', 'image/png', '2026/$id.png')");
}

# a file, or a reference to the bytes
sub unzip {
    my ($file) = @_;
    my $zip = Archive::Zip->new;
    if (ref $file) {
        open my $fh, '<', $file or die $!;
        return undef unless $zip->readFromFileHandle($fh) == AZ_OK;
    } else {
        return undef unless $zip->read($file) == AZ_OK;
    }
    return { map { $_->fileName => scalar $zip->contents($_->fileName) }
             $zip->members };
}

# RFC 4180 rows: a quoted cell (quotes doubled) or a plain one, each
# ended by a comma, CRLF or the end
sub csv_rows {
    my ($text) = @_;
    my (@rows, @row);
    while ((pos($text) // 0) < length $text) {
        $text =~ /\G(?:"((?:[^"]+|"")*)"|([^",\r\n]*))(,|\r\n|\z)/gc
            or die "not CSV at " . (pos($text) // 0) . ": "
                   . substr($text, pos($text) // 0, 80);
        my ($quoted, $plain, $end) = ($1, $2, $3);
        push @row, defined $quoted ? $quoted =~ s/""/"/gr : $plain;
        next if $end eq ',';
        push @rows, [ @row ];
        @row = ();
    }
    return @rows;
}

# rows as hashes by the header's names
sub csv_records {
    my ($head, @rows) = csv_rows($_[0]);
    return map { my $r = $_; +{ map { $head->[$_] => $r->[$_] } 0 .. $#$head } }
           @rows;
}

# every check of one unpacked archive of client A, March 2026, all sites
sub check_archive {
    my ($files, $sites) = @_;
    my $m = eval { decode_json($files->{'manifest.json'}) };
    ok $m, 'manifest.json is JSON' or return;

    my %named = map { $_->{name} => $_ } @{ $m->{files} };
    is_deeply [ sort keys %$files ],
              [ sort 'manifest.json', keys %named ],
              'the manifest names every other file of the zip';
    for my $n (sort keys %named) {
        is sha256_hex($files->{$n}), $named{$n}{sha256}, "$n: SHA-256";
        is length($files->{$n}), $named{$n}{size}, "$n: size";
    }

    is $m->{client_id}, $A, 'manifest: the client';
    ok $m->{workbook_complete}, 'manifest: the workbook is complete';
    is_deeply [ @$m{qw(from to)} ], [ '2026-03-01', '2026-03-31' ],
              'manifest: the period';
    like $m->{generated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
         'manifest: when';
    my ($seq, $hash) = @{ ($t->rows("SELECT seq, encode(row_hash, 'hex') "
                                    . "FROM incidents_ledger_chain_head"))[0] };
    is $m->{ledger_chain}{head_seq}, $seq, 'manifest: the chain head seq';
    is $m->{ledger_chain}{head_hash}, $hash, 'manifest: its hash';

    # the rows the ledger says the client may see, newest versions only
    my $site_cond = $sites ? "AND site_id IN ($sites)" : '';
    my @want = $t->rows(
        "SELECT l.report_id, l.version, l.site_id, l.category, l.chain_seq "
        . "FROM incidents_ledger l WHERE l.client_id = $A $site_cond "
        . "AND l.status = 'APPROVED' AND l.occurred_at >= '2026-03-01' "
        . "AND l.occurred_at < '2026-04-01' AND NOT EXISTS (SELECT 1 FROM "
        . "incidents_ledger n WHERE n.report_id = l.report_id AND "
        . "n.version > l.version) ORDER BY l.occurred_at, l.report_id");
    my @inc = csv_records($files->{'incidents.csv'});
    is_deeply [ map { [ @$_{qw(report_id version site_id category
                                chain_seq)} ] } @inc ],
              \@want, 'incidents.csv: the rows the ledger has, as it has them';
    is $m->{counts}{incidents}, scalar @want, 'manifest: incident count';
    my @seqs = sort { $a <=> $b } map { $_->[4] } @want;
    is_deeply [ @{ $m->{ledger_chain} }{qw(first_seq last_seq)} ],
              [ $seqs[0], $seqs[-1] ], 'manifest: the rows\' chain range';

    like $inc[0]{fields}, qr/Narrative: walked the fence \d+/,
         'the visible fields are there';
    like $files->{'incidents.csv'}, qr/Long: L{40000}"/,
         'a 40,000-character value whole in the CSV' unless $sites;
    like $files->{'incidents.csv'}, qr/,"'\@SUM\(1\+1\)",/,
         'a formula is defused in the CSV' unless $sites;

    my @lines = csv_records($files->{'billing_lines.csv'});
    my @want_lines = $t->rows(
        "SELECT id, bill_code, quantity FROM billing_lines WHERE client_id = "
        . "$A $site_cond AND service_date BETWEEN '2026-03-01' AND "
        . "'2026-03-31' ORDER BY service_date, id");
    is_deeply [ map { [ @$_{qw(id bill_code quantity)} ] } @lines ],
              \@want_lines, 'billing_lines.csv: the client\'s lines';
    ok @want_lines >= 3, 'charges and a credit among them' unless $sites;

    my @tot = csv_records($files->{'billing_totals.csv'});
    my @want_tot = $t->rows(
        "SELECT bill_code, count(*), sum(quantity) FROM billing_lines "
        . "WHERE client_id = $A $site_cond AND service_date BETWEEN "
        . "'2026-03-01' AND '2026-03-31' GROUP BY ROLLUP (bill_code) "
        . "ORDER BY bill_code IS NULL, bill_code");
    is_deeply [ map { [ $_->{bill_code}, $_->{lines}, $_->{quantity} ] }
                @tot ], \@want_tot,
              'billing_totals.csv: per code and the grand total';

    # the photos: those shown, never the hidden one or another client's
    my @photos = sort grep { m{^photos/} } keys %$files;
    my @want_ph = $sites ? ('photos/81002/910002.png')
                         : ('photos/81001/910001.png',
                            'photos/81002/910002.png');
    is_deeply \@photos, \@want_ph, 'the photos a client may see';
    is $files->{$want_ph[0]}, "PNG of " . ($want_ph[0] =~ m{/(\d+)\.png})[0]
        . " for " . ($want_ph[0] =~ m{photos/(\d+)/})[0],
       'with the bytes of the store';

    # the workbook: a zip with both sheets; a cell per non-empty value
    my $x = unzip(\$files->{'workbook.xlsx'}) // {};
    ok exists $x->{'xl/worksheets/sheet1.xml'}
       && exists $x->{'xl/worksheets/sheet2.xml'}, 'workbook: two sheets';
    like $x->{'xl/workbook.xml'} // '',
         qr/name="incidents".*name="billing"/s, 'named incidents, billing';
    my $cells = () = ($x->{'xl/worksheets/sheet1.xml'} // '') =~ /<c /g;
    my $values = 0;
    for my $r (csv_rows($files->{'incidents.csv'})) {
        $values += grep { length } @$r;
    }
    is $cells, $values, "workbook: incidents sheet has $values cells";
    like $x->{'xl/worksheets/sheet1.xml'} // '',
         qr/L{29000}L* \[cut: the CSV has all of it\]/,
         'cut in its workbook cell, saying so' unless $sites;
    my $bill = $x->{'xl/worksheets/sheet2.xml'} // '';
    my $want_total = $t->value(
        "SELECT sum(quantity) FROM billing_lines WHERE client_id = $A "
        . "$site_cond AND service_date BETWEEN '2026-03-01' AND "
        . "'2026-03-31'");
    like $bill, qr/<t>bill_code<\/t>.*<t>lines<\/t>/s,
         'workbook: the billing sheet has the totals';
    like $bill, qr/<v>\Q${\ ($want_total + 0)}\E<\/v>/,
         'workbook: with the grand total quantity';

    # invariant 9, in every byte of every file (the workbook unpacked)
    my $all = join '', values %$files, values %$x;
    unlike $all, qr/SECRETCONF|SECRETADMIN|Internal note|Hidden photo/,
           'no confidential or admin-only field anywhere';
    unlike $all, qr/810019|910006|81004|81005|81006/,
           'nor a hidden photo, another client, an unapproved or later '
           . 'report';
}

subtest 'archive create' => sub {
    my $out = "$t->{dir}/a.zip";
    my ($rc, $o, $e) = $t->worker('archive', 'create', '--client', $A,
        '--from', '2026-03-01', '--to', '2026-03-31', '--out', $out,
        '--attachment-dir', $store);
    is $rc, 0, 'exit 0' or diag $e;
    like $o, qr/3 incidents, \d+ billing lines, 2 photos, \d+ bytes, sha256 [0-9a-f]{64}/,
         'a summary' or diag $o;
    my ($sha) = $o =~ /sha256 ([0-9a-f]{64})/;
    open my $fh, '<:raw', $out or die $!;
    my $bytes = do { local $/; <$fh> };
    is sha256_hex($bytes), $sha, 'the SHA-256 printed is the zip\'s';
    my $files = unzip($out);
    ok $files, 'the zip opens' or return;
    check_archive($files);

    ($rc, $o, $e) = $t->worker('archive', 'create', '--client', $A,
        '--from', '2026-03-01', '--to', '2026-03-31', '--out', $out,
        '--attachment-dir', $store);
    is $rc, 2, 'an existing --out is refused';
    like $e, qr/exists already/, 'saying so';
};

subtest 'a site-restricted scope' => sub {
    my $out = "$t->{dir}/a2.zip";
    my ($rc, $o, $e) = $t->worker('archive', 'create', '--client', $A,
        '--from', '2026-03-01', '--to', '2026-03-31', '--out', $out,
        '--sites', $A2, '--attachment-dir', $store);
    is $rc, 0, 'exit 0' or diag $e;
    check_archive(unzip($out), $A2);
};

subtest 'bad input changes nothing' => sub {
    for my $case ([ '2026-03-31', '2026-03-01', qr/after --to/ ],
                  [ '2025-01-01', '2026-01-02', qr/more than 366 days/ ],
                  [ '2026-02-30', '2026-03-01', qr/2026-02-30/ ]) {
        my ($from, $to, $why) = @$case;
        my $out = "$t->{dir}/bad.zip";
        my ($rc, $o, $e) = $t->worker('archive', 'create', '--client', $A,
            '--from', $from, '--to', $to, '--out', $out);
        is $rc, 2, "$from .. $to: a usage error";
        like $e, $why, 'naming the problem';
        ok !-e $out, 'no file';
    }
    my ($rc, $o, $e) = $t->worker('archive', 'create', '--client', $A,
        '--from', '2026-03-01', '--to', '2026-03-31', '--out',
        "$t->{dir}/nodir.zip");
    is $rc, 1, 'photos without --attachment-dir: an error';
    like $e, qr/attachment directory is needed/, 'saying why';
    ok !-e "$t->{dir}/nodir.zip", 'no file';
    my @left = glob("$t->{dir}/.tt-archive-*");
    is scalar @left, 0, 'no temporary files left behind';
};

subtest 'the queue: archive build' => sub {
    $t->rows("INSERT INTO tracktik_archives (client_id, period_from, "
             . "period_to) VALUES ($A, '2026-03-01', '2026-03-31'), "
             . "($B, '2026-03-01', '2026-03-31')");
    # a request whose photo file is gone fails, with the reason
    $t->rows("INSERT INTO portal_attachments VALUES (910007, 81006, "
             . "'gone.png', 'image/png', '2026/gone.png')");
    my ($rc, $o, $e) = $t->worker('archive', 'build', '--once',
                                  '--attachment-dir', $store);
    is $rc, 0, 'exit 0' or diag $e;
    my @r = $t->rows("SELECT client_id, state, file_key, sha256, size, "
                     . "incidents, photos, error FROM tracktik_archives "
                     . "ORDER BY id");
    is_deeply [ map { $_->[1] } @r ], [ 'ready', 'failed' ],
              'one ready, one failed' or diag explain \@r;
    like $r[0][2], qr{^archives/\d+-[0-9a-f]{16}\.zip$}, 'its key';
    my $file = "$store/$r[0][2]";
    open my $fh, '<:raw', $file or die "$file: $!";
    my $bytes = do { local $/; <$fh> };
    is sha256_hex($bytes), $r[0][3], 'the SHA-256 recorded is the file\'s';
    is length($bytes), $r[0][4], 'and the size';
    is_deeply [ @{ $r[0] }[5, 6] ], [ 3, 2 ], 'incidents and photos counted';
    check_archive(unzip($file));
    like $r[1][7], qr{gone\.png}, 'the failure names the missing file';
    is $t->value("SELECT count(*) FROM tracktik_archives "
                 . "WHERE state = 'queued'"), 0, 'nothing left queued';
};

subtest 'the daemon: two at once share the queue, SIGTERM stops them' => sub {
    my @days = map { sprintf '2026-03-%02d', $_ } 1 .. 6;
    my $before = $t->value("SELECT max(id) FROM tracktik_archives");
    $t->rows("INSERT INTO tracktik_archives (client_id, period_from, "
             . "period_to) VALUES "
             . join(', ', map { "($A, '$_', '2026-03-31')" } @days));
    my @h = map {
        my ($o, $e) = ('', '');
        [ IPC::Run::start([ TTWorker::binary(), 'archive', 'build',
                            '--attachment-dir', $store, '--dsn', $t->dsn ],
                          \undef, \$o, \$e), \$e ]
    } 1 .. 2;
    my $done = TTWorker::wait_until(sub {
        $t->value("SELECT count(*) FROM tracktik_archives WHERE id > "
                  . "$before AND state = 'ready'") == 6 }, 120);
    ok $done, 'every request is built' or diag explain [ $t->rows(
        "SELECT id, state, error FROM tracktik_archives") ];
    $_->[0]->signal('TERM') for @h;
    for my $x (@h) {
        my $ok = $x->[0]->finish;
        is $?, 0, 'a builder exits 0 on SIGTERM' or diag ${ $x->[1] };
    }
    my @ready = $t->rows("SELECT attempts, file_key FROM tracktik_archives "
                         . "WHERE id > $before ORDER BY id");
    is scalar(grep { $_->[0] == 1 } @ready), 6, 'each built once';
    my %keys = map { $_->[1] => 1 } @ready;
    is scalar keys %keys, 6, 'into a file of its own';
    my @by = map { scalar(() = ${ $_->[1] } =~ /event=archive_ready/g) } @h;
    is $by[0] + $by[1], 6, 'the builders\' logs name six archives '
                          . "(@by)";
};

subtest 'the retention: archive build --keep-days' => sub {
    my @before = $t->rows("SELECT id, state, file_key FROM tracktik_archives "
                          . "ORDER BY id");
    my ($old) = grep { $_->[1] eq 'ready' } @before;
    my ($failed) = grep { $_->[1] eq 'failed' } @before;
    ok $old && $failed, 'a ready and a failed archive to age' or return;
    ok -e "$store/$old->[2]", 'the old archive\'s file is there';
    # a file in the directory that no row names, and one beside it
    open my $fh, '>', "$store/archives/1-0123456789abcdef.zip" or die $!;
    close $fh;
    $t->rows("UPDATE tracktik_archives SET requested_at = now() - "
             . "interval '3 days', finished_at = now() - interval '3 days' "
             . "WHERE id IN ($old->[0], $failed->[0])");

    my ($rc, $o, $e) = $t->worker('archive', 'build', '--once',
        '--keep-days', '0', '--attachment-dir', $store);
    is $rc, 0, '--keep-days 0: exit 0' or diag $e;
    is $t->value("SELECT count(*) FROM tracktik_archives"), scalar @before,
       'keeps every archive';

    ($rc, $o, $e) = $t->worker('archive', 'build', '--once',
        '--keep-days', 'x', '--attachment-dir', $store);
    is $rc, 2, 'a --keep-days that is not a number: a usage error';

    ($rc, $o, $e) = $t->worker('archive', 'build', '--once',
        '--keep-days', '1', '--attachment-dir', $store);
    is $rc, 0, '--keep-days 1: exit 0' or diag $e;
    is_deeply [ map { $_->[0] } $t->rows("SELECT id FROM tracktik_archives "
                                         . "ORDER BY id") ],
              [ grep { $_ != $old->[0] && $_ != $failed->[0] }
                map { $_->[0] } @before ],
              'the two old rows are gone, the others kept';
    ok !-e "$store/$old->[2]", 'the old archive\'s file is removed';
    my @kept = grep { defined $_->[2] && $_->[0] != $old->[0] } @before;
    ok @kept > 0, 'other archives with files';
    is scalar(grep { -e "$store/$_->[2]" } @kept), scalar @kept,
       'their files are all still there';
    ok -e "$store/archives/1-0123456789abcdef.zip",
       'a file no pruned row names is left alone';
    ok -e "$store/2026/910001.png", 'and so are the photos';
    my @lines = $e =~ /^.*event=archive_pruned.*$/mg;
    is scalar @lines, 2, 'one log line per pruned archive' or diag $e;
    my $named = "id=$old->[0] client=$A from=2026-03-01 to=2026-03-31 "
                . "key=$old->[2]";
    like $lines[0], qr/\Q$named\E/, 'naming it' or diag $e;
    is scalar(grep { /level=info / } @lines), 2, 'at info';
};

# `run` builds the portal's requests itself (doc/archive.md): a request
# queued through the portal's entry point (portal_api_archive_request, as
# the module calls it) by a client user of A; returns its id
my $alice = "alice.$$\@client-a.test";
$t->rows("SELECT portal_user_add('$alice', 'archive pw', 'client', $A, "
         . "NULL)");
my $token = $t->value("SELECT next FROM ("
    . TrackTikTest::tt_login_sql($alice, 'archive pw', '127.0.0.9', 3600)
    . ") l");

sub request_archive {
    my ($from) = @_;
    my ($status, $id, $body) = @{ ($t->rows(
        "SELECT status, (body::jsonb)->>'id', md5(body) FROM "
        . "portal_api_archive_request('$token', '$from', '2026-03-31', "
        . "NULL)"))[0] };
    is $status, 202, "the portal queues $from to 2026-03-31" or diag $body;
    return $id;
}

sub state_of {
    my ($ids) = @_;
    return join ',', map { $_->[0] } $t->rows(
        "SELECT state FROM tracktik_archives WHERE id IN ("
        . join(',', @$ids) . ") ORDER BY id");
}

subtest 'run builds the queue, without archive build' => sub {
    my $w = $t->spawn('--concurrency', 2, '--attachment-dir', $store);
    my @ids = map { request_archive(sprintf '2026-03-%02d', $_) } 1 .. 4;
    my $done = wait_until(sub { state_of(\@ids) eq 'ready,ready,ready,ready' },
                          180);
    ok $done, 'the daemon builds every request' or diag state_of(\@ids);
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'and exits 0 on SIGTERM';
    my $log = $t->log_of($w);
    like $log, qr/event=started .*archives=on/, 'its log says it builds them';

    my @r = $t->rows("SELECT id, attempts, file_key, sha256, size FROM "
                     . "tracktik_archives WHERE id IN (" . join(',', @ids)
                     . ") ORDER BY id");
    is scalar(grep { $_->[1] == 1 } @r), 4,
       'each claimed once by the two processes';
    for my $id (@ids) {
        my @built = $log =~ /event=archive_ready id=$id /g;
        is scalar @built, 1, "archive $id built once";
    }
    my %keys = map { $_->[2] => 1 } @r;
    is scalar keys %keys, 4, 'each into a file of its own';

    my $file = "$store/$r[0][2]";
    open my $fh, '<:raw', $file or die "$file: $!";
    my $bytes = do { local $/; <$fh> };
    is sha256_hex($bytes), $r[0][3], 'the SHA-256 recorded is the file\'s';
    is length($bytes), $r[0][4], 'and the size';
    check_archive(unzip($file));
};

subtest 'run --no-archives leaves the queue to archive build' => sub {
    my $id = request_archive('2026-03-02');
    my ($rc, $log) = $t->drain('--attachment-dir', $store, '--no-archives');
    is $rc, 0, 'run --drain --no-archives: exit 0' or diag $log;
    like $log, qr/event=started .*archives=off/, 'saying archives=off';
    is state_of([ $id ]), 'queued', 'the request is still queued';

    ($rc, $log) = $t->drain('--attachment-dir', $store);
    is $rc, 0, 'run --drain without it: exit 0' or diag $log;
    is state_of([ $id ]), 'ready', 'builds what is queued before it exits';
    like $log, qr/event=archive_ready id=$id /, 'and logs it';
};

subtest 'run prunes archives as archive build does (90 days)' => sub {
    my @r = $t->rows("SELECT id, file_key FROM tracktik_archives WHERE "
                     . "state = 'ready' ORDER BY id DESC LIMIT 2");
    my ($old, $young) = @r;
    $t->rows("UPDATE tracktik_archives SET requested_at = now() - "
             . "interval '$_->[1] days', finished_at = now() - "
             . "interval '$_->[1] days' WHERE id = $_->[0]")
        for [ $old->[0], 91 ], [ $young->[0], 80 ];

    my ($rc, $log) = $t->drain('--attachment-dir', $store,
                               '--archive-keep-days', 0);
    is $rc, 0, '--archive-keep-days 0: exit 0' or diag $log;
    is $t->value("SELECT count(*) FROM tracktik_archives WHERE id IN "
                 . "($old->[0], $young->[0])"), 2, 'keeps both';

    ($rc, $log) = $t->drain('--attachment-dir', $store, '--no-archives');
    is $t->value("SELECT count(*) FROM tracktik_archives WHERE id IN "
                 . "($old->[0], $young->[0])"), 2,
       '--no-archives prunes nothing either';

    ($rc, $log) = $t->drain('--attachment-dir', $store);
    is $rc, 0, 'by default: exit 0' or diag $log;
    is_deeply [ map { $_->[0] } $t->rows("SELECT id FROM tracktik_archives "
                                         . "WHERE id IN ($old->[0], "
                                         . "$young->[0])") ],
              [ $young->[0] ], 'the one 91 days old goes, 80 days stays';
    ok !-e "$store/$old->[1]", 'its file is removed';
    ok -e "$store/$young->[1]", 'the other\'s is kept';
    like $log, qr/event=archive_pruned id=$old->[0] /, 'logged';
};

done_testing;
