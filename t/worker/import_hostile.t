#!/usr/bin/perl
# tracktik-worker import of hostile exports (sim/tt_export.py --variant
# hostile): a byte order mark, ';' separators, CR/LF inside quotes,
# duplicated rows, a 1 MB field, invalid UTF-8 and formula cells.  Every
# bad row is in the rejects file with its line and reason, the good rows
# are all imported, and a rejected row leaves nothing in the ledger.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;
use TTImport;

my $t = TTWorker->new('import_hostile');
$t->load_contracts;


# a report field's value by its label, of the newest version
sub field_sql {
    my ($label, $id) = @_;
    return "SELECT f->>'value' FROM incidents_current,"
         . " jsonb_array_elements(raw->'reportFields') f"
         . " WHERE report_id = $id AND f->>'label' = '$label'";
}


# report ids of the export's rows, in order (the plain CSV: no quotes)
my @ids = map { (split /,/)[0] } grep { /^\d/ }
          split /\r\n/, slurp(export_file($t, 'plain.csv'));

subtest 'hostile CSV: exact rejects, every good row imported' => sub {
    my $file = export_file($t, 'hostile.csv', '--variant', 'hostile');
    like slurp($file), qr/\A\xEF\xBB\xBFID;Date;Client;/,
        'the file starts with a BOM and uses ";"';

    my $rejects = "$t->{dir}/hostile-csv.rejects";
    my ($rc, $out, $err) = $t->worker('import', $file, '--rejects', $rejects);
    is $rc, 3, 'exit 3: imported, some rows rejected' or diag $err;
    like $out, qr/\(mapping operation-reports-v1\): 26 rows: 18 new, 6 unchanged, 0 updated, 2 rejected; 2 formula cells kept as text/,
        'summary: 20 reports less the 2 rejected, the 6 duplicates unchanged';
    is slurp($rejects),
        "line\treason\n"
      . "18\tcolumn \"Details\": longer than 1048576 bytes\n"
      . "20\tcolumn \"Details\": invalid UTF-8\n",
        'the rejects: physical line numbers (a quoted CR/LF spans lines)';

    is $t->value("SELECT count(*) FROM incidents_ledger"), 18, '18 ledger rows';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id IN"
               . " ($ids[4], $ids[6])"), 0,
        'the rejected rows left nothing behind';
    is $t->value("SELECT (" . field_sql('Details', $ids[1]) . ")"
               . " = E'Line one,\\r\\nline two \"quoted\"\\r\\nend'"), 't',
        'CR/LF and quotes inside a quoted field kept';
    is length($t->value(field_sql('Details', $ids[5]))),
        1024 * 1024 - 10, 'a field just under 1 MB is kept';
    is_deeply [ $t->value(field_sql('Details', $ids[7])),
                $t->value(field_sql('Guard', $ids[7])),
                $t->value("SELECT raw#>'{import,formulaCells}' FROM"
                        . " incidents_ledger WHERE report_id = $ids[7]") ],
        [ '=HYPERLINK("http://evil.example","click")', '@SUM(A1)',
          '["Guard", "Details"]' ],
        'formula cells kept as text and marked';
};

subtest 'hostile XLSX: the same data, the same ledger' => sub {
    my $file = export_file($t, 'hostile.xlsx', '--variant', 'hostile');
    my $rejects = "$t->{dir}/hostile-xlsx.rejects";
    my $before = join ';', map { join ',', @$_ } $t->rows(
        "SELECT report_id, version, raw_sha256 FROM incidents_ledger ORDER BY 1, 2");

    my ($rc, $out, $err) = $t->worker('import', $file, '--rejects', $rejects);
    is $rc, 3, 'exit 3' or diag $err;
    like $out, qr/26 rows: 1 new, 24 unchanged, 0 updated, 1 rejected; 2 formula cells kept as text/,
        'summary: new is only the row whose CSV copy was not UTF-8 (XML '
      . 'cannot carry such bytes: the XLSX has the row as it should be)';
    is slurp($rejects),
        "line\treason\n"
      . "12\tcolumn \"Details\": longer than 1048576 bytes\n",
        'the rejects: sheet row numbers';
    is join(';', map { join ',', @$_ } $t->rows(
        "SELECT report_id, version, raw_sha256 FROM incidents_ledger"
      . " WHERE report_id <> $ids[6] ORDER BY 1, 2")),
        $before, 'the formula cell (<f>), the CR/LF cell and the rest: same '
               . 'content as from the CSV';
};

subtest 'a broken file: a clear error, nothing written' => sub {
    my $count = $t->value("SELECT count(*) FROM import_runs");
    my $bad = $t->file('broken.xlsx', "PK\x03\x04 not really a zip");
    my ($rc, $out, $err) = $t->worker('import', $bad);
    is $rc, 1, 'exit 1';
    like $err, qr/broken\.xlsx: not a readable XLSX \(zip\) file/, 'says why';

    my $empty = $t->file('empty.csv', '');
    ($rc, $out, $err) = $t->worker('import', $empty);
    is $rc, 1, 'an empty file: exit 1';
    like $err, qr/empty\.csv: no header row: the file is empty/, 'says why';

    ($rc, $out, $err) = $t->worker('import', $t->file('x.txt', "ID\n"));
    like $err, qr/x\.txt: not a \.csv or \.xlsx file/, 'other files refused';
    is $t->value("SELECT count(*) FROM import_runs"), $count, 'no run recorded';
};

subtest 'bad values: rejected with the column and the value' => sub {
    my $file = $t->file('values.csv', join "\n",
        'ID,Date,Client,Site,Severity,Category,Time Zone,Notes',
        'abc,2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,UTC,',
        '800001,yesterday,Acme,Lobby,LOW,Theft,UTC,',
        '800002,2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,Mars/Olympus,',
        '800003,2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,UTC,a,b',
        '',
        ',2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,UTC,',
        '800004,2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,UTC,-12.5',
        '800005,2026-11-02 10:00:00,Acme,Lobby,LOW,Theft,,+A1*2',
        '');
    my $rejects = "$t->{dir}/values.rejects";
    my ($rc, $out, $err) = $t->worker('import', $file, '--rejects', $rejects);
    is $rc, 3, 'exit 3' or diag $err;
    is slurp($rejects),
        "line\treason\n"
      . "2\tcolumn \"ID\": not a report id: \"abc\"\n"
      . "3\tcolumn \"Date\": not a date-time: \"yesterday\"\n"
      . "4\tcolumn \"Time Zone\": not a time zone: \"Mars/Olympus\"\n"
      . "5\t9 fields, the header row has 8\n"
      . "7\tcolumn \"ID\": empty\n",
        'each reason names the column (a blank line counts as a line)';
    like $out, qr/7 rows: 2 new, 0 unchanged, 0 updated, 5 rejected; 1 formula cells/,
        'a signed number is data, "+A1*2" a formula';
    is $t->value("SELECT raw#>>'{import,extra,Notes}' FROM incidents_ledger"
               . " WHERE report_id = 800005"), '+A1*2', 'kept as text';
};

done_testing;
