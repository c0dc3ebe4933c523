#!/usr/bin/perl
# tracktik-worker import: Operation Reports exports (CSV and XLSX, written
# by the simulator's sim/tt_export.py) into the ledger.  Re-importing
# changes nothing, a changed row adds one version, the CSV and the XLSX
# of the same data build the same ledger, billing follows the contract
# rules, and a missing required column stops the import before any write.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;
use TTImport;

my $t = TTWorker->new('import');
$t->load_contracts;


# the export's data rows as hashes (a plain CSV: no quotes in it)
sub csv_rows {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    my @lines = map { s/\r?\n\z//r } <$fh>;
    my @head = split /,/, shift @lines;
    return map { my %r; @r{@head} = split /,/, $_, -1; \%r } @lines;
}

sub import_file {
    my ($file, @args) = @_;
    return $t->worker('import', $file, @args);
}

sub counts {
    my ($out) = @_;
    return $out =~ /(\d+) rows: (\d+) new, (\d+) unchanged, (\d+) updated, (\d+) rejected/
        ? "$1 rows: $2 new, $3 unchanged, $4 updated, $5 rejected" : "no summary: $out";
}

sub ledger_of {
    my ($w) = @_;
    return join "\n", map { join ',', @$_ } $w->rows(
        "SELECT report_id, version, raw_sha256, client_id, site_id, severity,"
      . " category, status, occurred_at, updated_on, service_date"
      . "  FROM incidents_ledger l"
      . "  LEFT JOIN LATERAL (SELECT min(service_date) AS service_date"
      . "                       FROM billing_lines b"
      . "                      WHERE b.report_id = l.report_id) b ON true"
      . " ORDER BY report_id, version");
}

my $plain = export_file($t, 'plain.csv');
my @rows = csv_rows($plain);
is scalar @rows, 20, 'the export has 20 reports';

subtest 'a plain CSV: every row a new report, billed by the rules' => sub {
    my ($rc, $out, $err) = import_file($plain);
    is $rc, 0, 'exit 0' or diag $err;
    is counts($out), '20 rows: 20 new, 0 unchanged, 0 updated, 0 rejected',
        'summary';
    like $out, qr/\(mapping operation-reports-v1\)/, 'mapping detected';
    like $err, qr/import: 20 rows, \d+ rows\/s, 100%.*\nimport: merging into the ledger\n/,
        'progress as plain lines when stderr is not a terminal';
    is $t->value("SELECT count(*) FROM incidents_ledger"), 20, '20 ledger rows';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE version <> 1"), 0,
        'all version 1';

    my $r = $rows[0];
    is_deeply [ $t->rows("SELECT client_id, site_id, severity, category, status,"
                       . " time_zone, raw->>'id', raw#>>'{account,name}'"
                       . " FROM incidents_ledger WHERE report_id = $r->{ID}") ],
        [ [ @$r{'Client ID', 'Site ID', 'Severity', 'Category', 'Status',
                'Time Zone', 'ID', 'Site'} ] ],
        'columns and raw record from the row';
    is $t->value("SELECT raw#>>'{import,extra,Submitted On}' FROM incidents_ledger"
               . " WHERE report_id = $r->{ID}"), $r->{'Submitted On'},
        'an unknown column is kept in the raw record';

    # the seed rule bills ADH for every approved After hours dispatch
    my $adh = grep { $_->{Category} eq 'After hours dispatch'
                     && $_->{Status} eq 'APPROVED' } @rows;
    ok $adh > 0, "the export has $adh approved after-hours dispatches";
    is $t->value("SELECT count(*) FROM billing_lines WHERE bill_code = 'ADH'"
               . " AND kind = 'charge'"), $adh, 'one ADH charge each';
    my $alr = grep { $_->{Category} eq 'Alarm response'
                     && $_->{Status} eq 'APPROVED' } @rows;
    is $t->value("SELECT count(*) FROM billing_lines WHERE bill_code = 'ALR'"),
        $alr, 'one ALR charge per approved alarm response (hours field)';
    is $t->value("SELECT count(*) FROM import_runs"), 1, 'the run is recorded';
};

my $before = ledger_of($t);
my $billing = $t->value("SELECT count(*) FROM billing_lines");

# imports $file into $w's database: exit 0, the summary, and a ledger and
# billing that are the ones the first import of the CSV built
sub same_ledger {
    my ($w, $file, $summary, $what) = @_;
    my ($rc, $out, $err) = $w->worker('import', $file);
    is $rc, 0, "$what: exit 0" or diag $err;
    is counts($out), $summary, "$what: summary";
    is ledger_of($w), $before, "$what: the ledger built from the CSV";
    is $w->value("SELECT count(*) FROM billing_lines"), $billing,
        "$what: its billing lines";
}

subtest 're-importing the same file changes nothing' => sub {
    same_ledger($t, $plain,
        '20 rows: 0 new, 20 unchanged, 0 updated, 0 rejected', 'again');
};

subtest 'the XLSX of the same data is the same ledger' => sub {
    my $xlsx = export_file($t, 'plain.xlsx');
    same_ledger($t, $xlsx,
        '20 rows: 0 new, 20 unchanged, 0 updated, 0 rejected',
        'XLSX over the CSV\'s ledger');

    # and into an empty database: the same rows, hashes and billing
    my $x = TTWorker->new('import_xlsx');
    $x->load_contracts;
    same_ledger($x, $xlsx,
        '20 rows: 20 new, 0 unchanged, 0 updated, 0 rejected',
        'XLSX into an empty database');
};

subtest 'a changed row adds one version; the others stay' => sub {
    my $text = slurp($plain);
    my $id = $rows[3]{ID};
    $text =~ s/^($id,.*?),(Officer \d+),/$1,$2 (relieved),/m or die 'no row';
    my $changed = $t->file('changed.csv', $text);

    my ($rc, $out, $err) = import_file($changed);
    is $rc, 0, 'exit 0' or diag $err;
    is counts($out), '20 rows: 0 new, 19 unchanged, 1 updated, 0 rejected',
        'summary';
    is_deeply [ map { $_->[0] } $t->rows(
        "SELECT version FROM incidents_ledger WHERE report_id = $id ORDER BY 1") ],
        [ 1, 2 ], 'versions 1 and 2 of the changed report';
    like $t->value("SELECT raw::text FROM incidents_current WHERE report_id = $id"),
        qr/\(relieved\)/, 'the newest version has the change';
    is $t->value("SELECT count(*) FROM incidents_ledger"), 21, 'one row more';

    ($rc, $out) = import_file($changed);
    is counts($out), '20 rows: 0 new, 20 unchanged, 0 updated, 0 rejected',
        'importing it again adds nothing';
};

subtest 'a changed category: the old charge credited, as for a webhook' => sub {
    my ($adh) = grep { $_->{Category} eq 'After hours dispatch'
                       && $_->{Status} eq 'APPROVED' } @rows;
    my $id = $adh->{ID};
    my $text = slurp($plain);
    $text =~ s/^($id,.*?),MODERATE,After hours dispatch,/$1,HIGH,Vandalism,/m
        or die 'no ADH row';
    my ($rc, $out, $err) = import_file($t->file('reflagged.csv', $text));
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/1 updated, 0 rejected; .*billing lines: 0 charged, 1 credited/,
        'summary: one credit line';
    is join(';', map { join ',', @$_ } $t->rows(
        "SELECT kind, bill_code, quantity, ledger_version, idempotency_key"
      . "  FROM billing_lines WHERE report_id = $id ORDER BY id")),
        "charge,ADH,1.0,1,report:$id:v1:after-hours-dispatch\@1;"
      . "credit,ADH,-1.0,2,credit:report:$id:v1:after-hours-dispatch\@1",
        'the ADH charge of version 1 is credited by version 2';
};

subtest 'a missing required column: an error naming it, nothing written' => sub {
    my $count = $t->value("SELECT count(*) FROM incidents_ledger");
    my $runs = $t->value("SELECT count(*) FROM import_runs");
    for my $ext (qw(csv xlsx)) {
        my $file = export_file($t, "missing.$ext", '--variant', 'missing',
                               '--seed', 7);
        my ($rc, $out, $err) = import_file($file, '--mapping',
                                           'operation-reports-v1');
        is $rc, 1, "$ext: exit 1";
        like $err, qr/missing\.$ext: column "Severity", required by mapping operation-reports-v1, is missing/,
            "$ext: the column and the mapping are named";
        ($rc, $out, $err) = import_file($file);
        like $err, qr/no mapping fits the header row: the closest, operation-reports-v1, requires column "Severity"/,
            "$ext: detection names the closest mapping";
    }
    is $t->value("SELECT count(*) FROM incidents_ledger"), $count,
        'no ledger row written';
    is $t->value("SELECT count(*) FROM import_runs"), $runs, 'no run recorded';
};

subtest 'a report a webhook recorded: an export of it changes nothing' => sub {
    $t->enqueue([ 'hook-700', report_json(id => 700) ]);
    my ($rc) = $t->drain;
    is $rc, 0, 'the webhook job drained';
    my ($when, $zone, $client, $site, $updated) = @{ ($t->rows(
        "SELECT to_char(occurred_at AT TIME ZONE 'UTC',"
      . " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), time_zone, client_id, site_id,"
      . " to_char(updated_on AT TIME ZONE 'UTC',"
      . " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
      . " FROM incidents_ledger WHERE report_id = 700"))[0] };
    my $head = 'ID,Date,Client,Client ID,Site,Site ID,Severity,Category,'
             . 'Status,Time Zone,Updated';
    my $row = "700,$when,Client,$client,Site,$site,HIGH,"
            . "After hours dispatch,APPROVED,$zone,$updated";

    ($rc, my $out, my $err) = import_file(
        $t->file('hooked.csv', "$head\n$row\n"));
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/1 rows: 0 new, 1 unchanged, 0 updated/,
        'the same columns as the webhook\'s version: unchanged';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 700"),
        1, 'the full entity stays the newest version';

    $row =~ s/,HIGH,/,SEVERE,/;
    ($rc, $out) = import_file($t->file('hooked2.csv', "$head\n$row\n"));
    like $out, qr/1 rows: 0 new, 0 unchanged, 1 updated/,
        'a changed severity: a new version';
    is $t->value("SELECT count(*) FROM billing_lines WHERE report_id = 700"),
        1, 'still billed once (the rules bill it the same)';
};

subtest 'a Data Lab export is detected by its header row' => sub {
    my $file = $t->file('datalab.csv', join "\r\n",
        'Report ID,Report Date,Client Name,Site Name,Severity Level,Report Flag,Client ID,Site ID,Report Status,Site Time Zone',
        '900001,2026-11-02 23:30:00,Acme,Acme - Lobby,MODERATE,After hours dispatch,3,55,APPROVED,America/Toronto',
        '');
    my ($rc, $out, $err) = import_file($file);
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/\(mapping data-lab-v1\): 1 rows: 1 new/, 'data-lab-v1 chosen';
    is $t->value("SELECT occurred_at AT TIME ZONE 'UTC' FROM incidents_ledger"
               . " WHERE report_id = 900001"), '2026-11-03 04:30:00',
        'a date without offset is read in the row\'s time zone';
    is $t->value("SELECT string_agg(bill_code, ',') FROM billing_lines"
               . " WHERE report_id = 900001"), 'ADH',
        'billed by the same rules as a webhook';
};

done_testing;
