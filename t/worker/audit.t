#!/usr/bin/perl
# tracktik-worker audit --source api|FILE: the ledger compared with
# TrackTik (the simulator) and with exports (sim/tt_export.py, CSV and
# XLSX).  A ledger built by real jobs (a pull, an import) agrees with its
# source (exit 0); then one difference of each kind is planted and each
# is found exactly once, with its kind and field, in audit.csv and
# audit.html (HTML-escaped), and the exit is 1.  Usage errors exit 2.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use TTWorker;
use TTSim;
use TTImport;
use TTAudit;

my @MARCH = ('--from', '2026-03-01', '--to', '2026-03-31');


# audit.csv's data rows, as "kind|report|field|ledger|source" (a plain
# parse: the planted values hold no comma or quote except where quoted)
sub csv_rows {
    my ($dir) = @_;
    my $text = slurp("$dir/audit.csv");
    my @lines = split /\r\n/, $text;
    my $head = shift @lines;
    die "audit.csv header: $head"
        unless $head eq 'kind,report_id,field,ledger_value,source_value';
    return map {
        my ($s, @f, $sep) = ($_);
        do {
            if ($s =~ s/^"((?:[^"]|"")*)"(,|\z)//) {
                $sep = $2;
                push @f, $1 =~ s/""/"/gr;
            } else {
                $s =~ s/^([^,]*)(,|\z)//;
                push @f, $1;
                $sep = $2;
            }
        } while ($sep ne '');
        join '|', @f;
    } @lines;
}

sub audit {
    my ($w, @args) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my ($rc, $out, $err) = $w->worker('audit', @args, '--out', $dir);
    return ($rc, $out, $err, $dir);
}

sub counts_line {
    my ($out) = @_;
    return join ' ', map { $out =~ /^  \Q$_\E\s+(\d+)$/m ? "$_=$1" : "$_=?" }
        qw(missing_from_ledger missing_from_source changed
           billing_without_report should_have_billed);
}


subtest 'usage errors exit 2 and name the problem' => sub {
    my $t = TTWorker->new('audit_usage');
    for my $case (
        [ [ '--source', 'api' ], qr/needs --from DATE and --to DATE/ ],
        [ [ @MARCH, '--source', 'api', '--mapping', 'x' ],
          qr/--mapping is for --source FILE/ ],
        [ [ @MARCH, '--source', 'api', '--verify-chain' ],
          qr/two audits/ ],
        [ [ '--from', '2026-03-31', '--to', '2026-03-01', '--source', 'api' ],
          qr/--to 2026-03-01 is before --from 2026-03-31/ ])
    {
        my ($rc, $out, $err) = audit($t, @{ $case->[0] });
        is $rc, 2, "exit 2: @{ $case->[0] }";
        like $err, $case->[1], 'the reason';
    }
};


subtest 'against TrackTik (--source api)' => sub {
    my $t = TTWorker->new('audit_api');
    my $sim = TTSim->new(repo => TTWorker::repo());
    $t->load_contracts;
    my ($rc, $out, $err) = $sim->worker_login($t);
    is $rc, 0, 'logged in' or diag $err;

    my $made = $sim->admin('POST', '/__sim/reports',
                           { count => 60, from => '2026-03-01',
                             to => '2026-03-31', seed => 21 });
    is $made->{created}, 60, '60 reports in the simulator';

    # the ledger built by real jobs: a pull, processed as webhooks are
    ($rc, $out, $err) = $t->worker('pull', @MARCH);
    is $rc, 0, 'pulled' or diag $err;
    my $n = $t->value('SELECT count(DISTINCT report_id) FROM incidents_ledger');
    cmp_ok $n, '>=', 60, "$n reports in the ledger";

    my $dir;
    ($rc, $out, $err, $dir) = audit($t, @MARCH, '--source', 'api');
    is $rc, 0, 'a clean ledger agrees: exit 0' or diag "$err$out";
    like $out, qr/: $n reports in the ledger, $n in the source/, 'counts';
    like $out, qr/agree/, 'says so';
    is_deeply [ csv_rows($dir) ], [], 'audit.csv has no difference';
    like slurp("$dir/audit.html"), qr/The ledger and the source agree/,
        'audit.html says they agree';

    # --- the planted differences ---------------------------------------
    my @billed = map { $_->[0] } $t->rows(
        "SELECT DISTINCT report_id FROM billing_lines WHERE kind = 'charge'"
      . " ORDER BY report_id LIMIT 2");
    is scalar @billed, 2, 'two billed reports to plant on';
    my ($changed, $unbilled) = @billed;

    # a report TrackTik has and the ledger lacks
    $sim->admin('POST', '/__sim/reports',
                { count => 1, from => '2026-03-10', to => '2026-03-10',
                  seed => 22 });
    my %ledger = map { $_->[0] => 1 }
        $t->rows('SELECT DISTINCT report_id FROM incidents_ledger');
    my ($new) = grep { !$ledger{$_} } map { $_->{id} } @{ $sim->get(
        '/rest/v1/reports?reportDateTime:between=2026-03-01T00:00:00Z'
      . '%7C2026-03-31T23:59:59Z&limit=1000&sort=id')->{data} };
    ok $new, "report $new is only in TrackTik";

    # a report the ledger has and TrackTik does not (the owner inserts
    # it: the ledger takes inserts from anyone with the right)
    $t->rows(<<"SQL");
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    time_zone, raw, raw_sha256, status)
VALUES ('planted:990001', 990001, 1, '2026-03-15T12:00:00Z', 'UTC',
        '{"id": 990001}', 'planted', 'APPROVED');
SQL

    # a changed field: a newer version of a report, its severity altered
    # (to a value that must come out HTML-escaped)
    plant_version($t, $changed, 'changed', severity => q{'<b>&"HIGH"'});
    my $old_severity = $t->value("SELECT severity FROM incidents_ledger"
                                 . " WHERE report_id = $changed AND version = 1");

    # a billing line whose report the ledger does not hold
    my $orphan = $t->value(<<"SQL");
INSERT INTO billing_lines (idempotency_key, kind, report_id, ledger_id,
    ledger_version, rule_set_version, rule_id, bill_code, quantity,
    service_date)
SELECT 'planted:orphan', 'charge', 990002, min(id), 1, 1,
       'after-hours-dispatch', 'ADH', 1, '2026-03-20'
  FROM incidents_ledger
RETURNING id;
SQL

    # a report the rules bill whose charge was taken back: no open line
    my ($charge, $code) = @{ ($t->rows(
        "SELECT id, bill_code FROM billing_lines WHERE report_id = $unbilled"
      . " AND kind = 'charge' ORDER BY id"))[0] };
    $t->rows(<<"SQL");
INSERT INTO billing_lines (idempotency_key, kind, report_id, ledger_id,
    ledger_version, rule_set_version, rule_id, bill_code, quantity,
    service_date, credits_line_id)
SELECT 'planted:credit', 'credit', report_id, ledger_id, ledger_version,
       rule_set_version, rule_id, bill_code, -quantity, service_date, id
  FROM billing_lines WHERE id = $charge;
SQL

    ($rc, $out, $err, $dir) = audit($t, @MARCH, '--source', 'api');
    is $rc, 1, 'they differ: exit 1' or diag $err;
    is counts_line($out),
        'missing_from_ledger=1 missing_from_source=1 changed=1 '
      . 'billing_without_report=1 should_have_billed=1', 'the summary';

    my @rows = csv_rows($dir);
    is scalar @rows, 5, 'five rows in audit.csv' or diag join "\n", @rows;
    like $rows[0], qr/^missing_from_ledger\|$new\|\|\|2026-03-10T/,
        'the report only TrackTik has';
    is $rows[1], 'missing_from_source|990001||2026-03-15T12:00:00Z|',
        'the report only the ledger has';
    is $rows[2], "changed|$changed|severity|<b>&\"HIGH\"|$old_severity",
        'the changed field, ledger value then source value';
    like $rows[3],
        qr/^billing_without_report\|990002\|line $orphan\|charge ADH x 1 on 2026-03-20\|$/,
        'the billing line without a report';
    like $rows[4], qr/^should_have_billed\|$unbilled\|$code\|\|rule \S+ \(rule set 1\)$/,
        'the report that should have billed';

    my $html = slurp("$dir/audit.html");
    like $html, qr/The ledger and the source differ/, 'audit.html: differ';
    like $html, qr{<td>$_</td>}, "audit.html lists report $_"
        for $new, 990001, $changed, 990002, $unbilled;
    like $html, qr/&lt;b&gt;&amp;&quot;HIGH&quot;/, 'values HTML-escaped';
    unlike $html, qr/<b>&"HIGH/, 'never raw';
    like $html, qr{<td>Changed</td><td>1</td>}, 'the summary table';

    # the client, which a listed report does not carry (its site's parent,
    # found as `run` finds it), is compared too
    my ($moved, $client) = @{ ($t->rows(
        "SELECT report_id, client_id FROM incidents_current"
      . " WHERE client_id IS NOT NULL AND report_id NOT IN ($changed,"
      . " $unbilled) ORDER BY report_id LIMIT 1"))[0] };
    plant_version($t, $moved, 'client', client_id => 424242);
    ($rc, $out, $err, $dir) = audit($t, @MARCH, '--source', 'api');
    is $rc, 1, 'a changed client: exit 1' or diag $err;
    is_deeply [ grep { /^changed\|$moved\|/ } csv_rows($dir) ],
        [ "changed|$moved|client_id|424242|$client" ],
        'the client id, ledger value then source value';

    $sim->stop;
};


subtest 'each scheduled pull keeps its audit' => sub {
    my $t = TTWorker->new('audit_schedule');
    my $sim = TTSim->new(repo => TTWorker::repo());
    $t->load_contracts;
    my ($rc, $out, $err) = $sim->worker_login($t);
    is $rc, 0, 'logged in' or diag $err;

    my @d = gmtime(time - 5 * 86400);
    my @e = gmtime(time - 86400);
    my $from = sprintf '%04d-%02d-%02d', $d[5] + 1900, $d[4] + 1, $d[3];
    my $to = sprintf '%04d-%02d-%02d', $e[5] + 1900, $e[4] + 1, $e[3];
    $sim->admin('POST', '/__sim/reports',
                { count => 30, from => $from, to => $to, seed => 31 });

    my @schedule = ('schedule', '--once', '--pull-interval', '1');
    my $latest = 'SELECT missing_from_ledger, missing_from_source, changed,'
               . ' billing_without_report, should_have_billed, pending,'
               . ' agrees, source_reports FROM tracktik_audit_runs'
               . ' ORDER BY id DESC LIMIT 1';

    # the pull queues jobs that `run` has not recorded: pending, not
    # differences
    ($rc, $out, $err) = $t->worker(@schedule);
    is $rc, 0, 'schedule --once' or diag $err;
    like $out, qr/pulled/, 'it pulled';
    my $n = $t->value('SELECT reports FROM tracktik_pulls');
    cmp_ok $n, '>=', 30, "$n reports pulled";
    is join(',', @{ ($t->rows($latest))[0] || [] }), "0,0,0,0,0,$n,t,0",
        'audit kept: every pulled report pending, nothing else';

    my $log;
    ($rc, $log) = $t->drain;
    is $rc, 0, 'the jobs recorded';

    # the next pull lists only the reports updated since the last one
    # (none here), and its audit compares what it listed
    # (t/worker/audit_schedule.t has the rest)
    sleep 1.2;
    ($rc, $out, $err) = $t->worker(@schedule);
    is $rc, 0, 'schedule --once again' or diag $err;
    is join(',', @{ ($t->rows($latest))[0] || [] }), "0,0,0,0,0,0,t,0",
        'audit kept: nothing updated since, nothing differs';

    # a ledger report updated since that TrackTik does not list
    $t->rows(<<"SQL");
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    time_zone, raw, raw_sha256, status, updated_on)
VALUES ('planted:990003', 990003, 1, '${to}T12:00:00Z', 'UTC',
        '{"id": 990003}', 'planted', 'APPROVED', now());
SQL
    sleep 1.2;
    ($rc, $out, $err) = $t->worker(@schedule);
    is $rc, 0, 'a third scheduled pull' or diag $err;
    is join(',', @{ ($t->rows($latest))[0] || [] }), "0,1,0,0,0,0,f,0",
        'audit kept: the planted report is missing from TrackTik';
    is $t->value("SELECT replace(csv, E'\\r\\n', '~')"
                 . ' FROM tracktik_audit_runs ORDER BY id DESC LIMIT 1'),
        'kind,report_id,field,ledger_value,source_value~'
      . "missing_from_source,990003,,${to}T12:00:00Z,~", 'with its CSV';
    is $t->value('SELECT count(*) FROM tracktik_audit_runs'), 3,
        'one audit per scheduled pull';

    $sim->stop;
};


subtest 'against exports (--source FILE, CSV and XLSX)' => sub {
    my $t = TTWorker->new('audit_file');
    $t->load_contracts;
    my $csv = export_file($t, 'export.csv');
    my $xlsx = export_file($t, 'export.xlsx');
    my @RANGE = ('--from', '2026-01-01', '--to', '2026-12-31');

    my ($rc, $out, $err) = $t->worker('import', $csv);
    is $rc, 0, 'the export imported' or diag $err;

    for my $file ($csv, $xlsx) {
        my $dir;
        ($rc, $out, $err, $dir) = audit($t, @RANGE, '--source', $file);
        is $rc, 0, "agrees with $file: exit 0" or diag "$err$out";
        like $out, qr/mapping operation-reports-v1\): 20 reports in the ledger, 20 in the source/,
            'the mapping and the counts';
        is_deeply [ csv_rows($dir) ], [], 'no difference';
    }

    # the same export, altered: its first report removed, the second's
    # severity changed, and a report the ledger never saw added
    my @lines = split /\r?\n/, slurp($csv);
    my $head = shift @lines;
    my @col = split /,/, $head;
    my ($sev) = grep { $col[$_] eq 'Severity' } 0 .. $#col;
    my $removed = (split /,/, $lines[0])[0];
    my @second = split /,/, $lines[1], -1;
    my $was = $second[$sev];
    $second[$sev] = $was eq 'LOW' ? 'INFO' : 'LOW';
    my @added = split /,/, $lines[2], -1;
    $added[0] = 99999;
    my $altered = $t->file('altered.csv', join("\r\n", $head,
        join(',', @second), @lines[2 .. $#lines], join(',', @added)) . "\r\n");

    my $dir;
    ($rc, $out, $err, $dir) = audit($t, @RANGE, '--source', $altered,
                                    '--mapping', 'operation-reports-v1');
    is $rc, 1, 'differs: exit 1' or diag $err;
    is counts_line($out),
        'missing_from_ledger=1 missing_from_source=1 changed=1 '
      . 'billing_without_report=0 should_have_billed=0', 'the summary';
    my @rows = csv_rows($dir);
    is scalar @rows, 3, 'three differences' or diag join "\n", @rows;
    like $rows[0], qr/^missing_from_ledger\|99999\|\|\|20\d\d-/,
        'the added report';
    like $rows[1], qr/^missing_from_source\|$removed\|\|20\d\d-[^|]+\|$/,
        'the removed report';
    is $rows[2], "changed|$second[0]|severity|$was|$second[$sev]",
        'the changed severity';

    ($rc, $out, $err) = audit($t, @RANGE, '--source', $altered,
                              '--mapping', 'no-such-mapping');
    is $rc, 1, 'an unknown mapping: exit 1';
    like $err, qr/no-such-mapping/, 'named';

    is $t->value('SELECT count(*) FROM incidents_ledger'), 20,
        'the audits wrote nothing to the ledger';
};

done_testing;
