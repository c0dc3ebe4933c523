#!/usr/bin/perl
# The scheduled audit compares the ledger with the pages its own pull
# listed (tracktik_pull_seen, doc/audit.md "The scheduled audit"):
# - a scheduled pull and its audit ask TrackTik exactly what the same
#   pull without an audit asks (no second listing), route by route;
# - the kept result on a ledger with planted differences: deliveries
#   dropped and recovered by the pull agree (pending while `run` has not
#   recorded them), a report the pull lists but does not queue (the
#   ledger has it) is still compared (a planted severity: changed), a
#   report whose job went dead is missing from the ledger, a ledger
#   report updated since the pull's updatedOn:gte that TrackTik did not
#   list is missing from the source, one updated before is not looked at;
# - a pull that fails part way keeps no audit and no pages; one abandoned
#   by a killed process loses its pages at the next pull; the kept pages
#   go once the audit is recorded; a pull whose window was only partly
#   kept is refused by tracktik_audit_stage_pull().

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TTWorker;
use TTSim;
use TTAudit;

my $sim = TTSim->new(repo => TTWorker::repo(), args => [ '--rate', '0' ]);

my @d = gmtime(time - 5 * 86400);
my @e = gmtime(time - 86400);
my $from = sprintf '%04d-%02d-%02d', $d[5] + 1900, $d[4] + 1, $d[3];
my $to = sprintf '%04d-%02d-%02d', $e[5] + 1900, $e[4] + 1, $e[3];
my $made = $sim->admin('POST', '/__sim/reports',
                       { count => 30, from => $from, to => $to, seed => 41 });
is $made->{created}, 30, '30 reports of the last days in the simulator';

sub database {
    my ($name) = @_;
    my $t = TTWorker->new($name);
    $t->load_contracts;
    my ($rc, $out, $err) = $sim->worker_login($t);
    is $rc, 0, "$name: logged in" or diag $err;
    $sim->deliver_nowhere($t);
    return $t;
}

# the requests the simulator answered, per route, while $code ran
sub requests_of {
    my ($code) = @_;
    my $before = $sim->state->{requests};
    $code->();
    my $after = $sim->state->{requests};
    my %d;
    for my $route (keys %$after) {
        my $n = $after->{$route} - ($before->{$route} // 0);
        $d{$route} = $n if $n;
    }
    return \%d;
}

my @SCHEDULE = ('schedule', '--once', '--pull-interval', '1');
my $LATEST = 'SELECT missing_from_ledger, missing_from_source, changed,'
           . ' billing_without_report, should_have_billed, pending, agrees,'
           . ' ledger_reports, source_reports FROM tracktik_audit_runs'
           . ' ORDER BY id DESC LIMIT 1';

my $t = database('audit_sched_pages');

subtest 'the audit asks TrackTik nothing beyond its pull' => sub {
    my $plain = database('audit_sched_plain');
    my ($rc, $out, $err);

    my $without = requests_of(sub {
        ($rc, $out, $err) = $plain->worker(@SCHEDULE, '--no-audit');
    });
    is $rc, 0, 'a scheduled pull with --no-audit' or diag $err;
    is $plain->value('SELECT count(*) FROM tracktik_audit_runs'), 0,
        'it keeps no audit';
    is $plain->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'nor any page';

    my $with = requests_of(sub {
        ($rc, $out, $err) = $t->worker(@SCHEDULE);
    });
    is $rc, 0, 'the same scheduled pull with its audit' or diag $err;
    cmp_ok $with->{'GET /rest/v1/reports'} // 0, '>=', 1,
        'the reports were listed';
    is_deeply $with, $without,
        'exactly the requests of the pull alone, route by route'
        or diag explain { with => $with, without => $without };

    my $n = $t->value('SELECT reports FROM tracktik_pulls');
    cmp_ok $n, '>=', 30, "$n reports listed";
    is join(',', @{ ($t->rows($LATEST))[0] || [] }), "0,0,0,0,0,$n,t,0,0",
        'audit kept: every listed report is a queued job, pending';
    is $t->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'the kept pages are gone once the audit is recorded';
};

subtest 'the kept result on a ledger with planted differences' => sub {
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'the first pull\'s jobs recorded';

    # three new reports whose deliveries are lost
    $sim->config({ deliver_drop => 3 });
    my $d = $sim->admin('POST', '/__sim/deliver',
                        { kind => 'new', count => 3 })->{deliveries};
    my @ids = map { $_->{report} } @$d;
    is scalar(grep { ($_->{error} // '') eq 'dropped on purpose' } @$d), 3,
        'three deliveries dropped';

    sleep 1.2;
    my ($out, $err);
    ($rc, $out, $err) = $t->worker(@SCHEDULE);
    is $out, "schedule: pulled\n", 'the second scheduled pull' or diag $err;
    is $t->value('SELECT queued FROM tracktik_pulls ORDER BY id DESC'
                 . ' LIMIT 1'), 3, 'it queued the three';
    is join(',', @{ ($t->rows($LATEST))[0] || [] }), '0,0,0,0,0,3,t,0,0',
        'audit kept: the recovered reports pending, not missing';

    # one of them never reaches the ledger (its job is dead); the others do
    $t->rows("UPDATE tracktik_jobs SET state = 'dead'"
             . " WHERE payload->>'id' = '$ids[2]'");
    ($rc, $log) = $t->drain;
    is $t->value('SELECT count(DISTINCT report_id) FROM incidents_ledger'
                 . " WHERE report_id IN ($ids[0], $ids[1], $ids[2])"), 2,
        'two recovered into the ledger';

    # a changed field: a newer ledger version of a recovered report
    plant_version($t, $ids[0], 'changed', severity => "'PLANTED'");
    my $severity = $t->value("SELECT severity FROM incidents_ledger"
                             . " WHERE report_id = $ids[0] AND version = 1");

    # ledger reports TrackTik does not have: one updated now (the next
    # pull would list it), one updated before the pull's updatedOn:gte
    # (the pull cannot see it: not looked at)
    $t->rows(<<"SQL");
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    time_zone, raw, raw_sha256, status, updated_on)
VALUES ('planted:990010', 990010, 1, '${to}T12:00:00Z', 'UTC',
        '{"id": 990010}', 'planted', 'APPROVED', now()),
       ('planted:990011', 990011, 1, '${to}T13:00:00Z', 'UTC',
        '{"id": 990011}', 'planted', 'APPROVED', now() - interval '2 days');
SQL

    sleep 1.2;
    my $asked = requests_of(sub {
        ($rc, $out, $err) = $t->worker(@SCHEDULE);
    });
    is $out, "schedule: pulled\n", 'the third scheduled pull' or diag $err;
    my ($listed, $queued, $since, $pages) = @{ ($t->rows(
        'SELECT reports, queued, updated_since IS NOT NULL, pages'
      . ' FROM tracktik_pulls ORDER BY id DESC LIMIT 1'))[0] };
    is "$listed,$queued,$since", '3,0,t', 'it listed the three again, '
        . 'updated since the last pull, and queued none (content known)';
    is $asked->{'GET /rest/v1/reports'}, $pages,
        "a request per page of the pull ($pages), none for its audit";

    is join(',', @{ ($t->rows($LATEST))[0] || [] }), '1,1,1,0,0,0,f,3,3',
        'audit kept: one missing from the ledger, one from TrackTik, one '
        . 'changed; three reports on each side';
    my $csv = $t->value("SELECT replace(csv, E'\\r\\n', '~')"
                        . ' FROM tracktik_audit_runs ORDER BY id DESC LIMIT 1');
    my @rows = split /~/, $csv;
    shift @rows;
    is scalar @rows, 3, 'three rows in its CSV' or diag $csv;
    like $rows[0], qr/^missing_from_ledger,$ids[2],,,20\d\d-/,
        'the report whose job went dead';
    is $rows[1], "missing_from_source,990010,,${to}T12:00:00Z,",
        'the ledger report TrackTik did not list';
    is $rows[2], "changed,$ids[0],severity,PLANTED,$severity",
        'the changed severity, ledger value then TrackTik\'s';
    unlike $csv, qr/990011/, 'the report updated before the pull\'s '
        . 'updatedOn:gte is not looked at';
    is $t->value('SELECT updated_since = (SELECT updated_since'
                 . '  FROM tracktik_pulls ORDER BY id DESC LIMIT 1)'
                 . ' FROM tracktik_audit_runs ORDER BY id DESC LIMIT 1'),
        't', 'the audit says which reports it compared (updated since)';
    is $t->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'the kept pages are gone';
};

subtest 'a pull that fails or is abandoned keeps no audit or pages' => sub {
    my $u = database('audit_sched_fail');
    $sim->admin('POST', '/__sim/reports',
                { count => 2100, from => $from, to => $to, seed => 42 });

    # the first page listed, the second refused: the pull fails
    $sim->faults([ { kind => 'status', status => 400,
                     path => '/rest/v1/reports', after => 1 } ]);
    my ($rc, $out, $err) = $u->worker(@SCHEDULE);
    $sim->faults([]);
    is $u->value("SELECT status || ' ' || pages FROM tracktik_pulls"),
        'failed 1', 'the pull failed after its first page' or diag $err;
    is $u->value('SELECT count(*) FROM tracktik_audit_runs'), 0,
        'no audit of a window seen in part';
    is $u->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'the page it kept is gone (a scheduled pull is not resumed)';

    sleep 1.2;
    ($rc, $out, $err) = $u->worker(@SCHEDULE);
    is $out, "schedule: pulled\n", 'the next scheduled pull' or diag $err;
    my ($listed, $pending, $agrees) = @{ ($u->rows(
        'SELECT p.reports, a.pending, a.agrees FROM tracktik_audit_runs a'
      . ' JOIN tracktik_pulls p ON p.id = a.pull_id'))[0] || [] };
    cmp_ok $listed, '>=', 2130, "the new pull listed everything ($listed)";
    is "$pending,$agrees", "$listed,t",
        'its audit saw every listed report (all pending)';
    is $u->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'no page of any pull is left';

    # a scheduled pull whose process was killed: still 'running', its
    # lock gone with its session, pages kept
    my $dead = $u->value(<<'SQL');
INSERT INTO tracktik_pulls (kind, range_from, range_to, cursor_at, worker,
                            reports)
VALUES ('scheduled', now() - interval '1 day', now(), now(), 'killed:1', 1)
RETURNING id;
SQL
    $u->rows("INSERT INTO tracktik_pull_seen (pull_id, report_id,"
             . " occurred_at) VALUES ($dead, 1, now())");

    # a pull that listed pages without keeping them (--no-audit), or
    # one not listed to its end: refused, never a partial audit
    my $rid = $u->value("SELECT payload->>'id' FROM tracktik_jobs LIMIT 1");
    $sim->admin('POST', "/__sim/reports/$rid/update");
    sleep 1.2;
    ($rc, $out, $err) = $u->worker(@SCHEDULE, '--no-audit');
    my $plain = $u->value('SELECT max(id) FROM tracktik_pulls');
    is $u->value("SELECT status FROM tracktik_pulls WHERE id = $dead"),
        'failed', 'the killed one was abandoned by the next pull';
    is $u->value('SELECT count(*) FROM tracktik_pull_seen'), 0,
        'and its pages went with it, though no audit ran';
    like $u->sql_error("BEGIN; SELECT tracktik_audit_begin(false);"
                       . " SELECT * FROM tracktik_audit_stage_pull($plain)"),
        qr/pull $plain listed \d+ reports but 0 of them were kept for its audit: its window was only partly seen/,
        'a pull whose pages were not kept';
    like $u->sql_error("BEGIN; SELECT tracktik_audit_begin(false);"
                       . " SELECT * FROM tracktik_audit_stage_pull($dead)"),
        qr/pull $dead has not listed its whole range/,
        'a pull not listed to its end';
};

done_testing;
