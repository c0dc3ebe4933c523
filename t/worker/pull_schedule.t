#!/usr/bin/perl
# tracktik-worker schedule: deliveries the simulator drops on purpose (as
# TrackTik does once its retries are spent) are recovered by the scheduled
# pull, a supervisor's later change included; the schedule is one across
# processes: while one holds the lease the other never pulls, and it
# takes over once the holder stops.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use TTWorker;
use TTSim;

my $t = TTWorker->new('pull_schedule');
my $sim = TTSim->new(repo => TTWorker::repo(), args => [ '--rate', '0' ]);
$t->load_contracts;
my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in' or diag $err;

$sim->deliver_nowhere($t);

sub ledger_versions {
    my (@ids) = @_;
    return $t->value('SELECT string_agg(report_id || \':\' || v, \',\''
        . ' ORDER BY report_id) FROM (SELECT report_id, max(version) AS v'
        . ' FROM incidents_ledger WHERE report_id IN (' . join(',', @ids)
        . ') GROUP BY report_id) s') // '';
}

subtest 'dropped deliveries are recovered by the scheduled pull' => sub {
    $sim->config({ deliver_drop => 5 });
    my $d = $sim->admin('POST', '/__sim/deliver',
                        { kind => 'new', count => 5 })->{deliveries};
    my @ids = map { $_->{report} } @$d;
    is scalar(@ids), 5, 'five new reports';
    is scalar(grep { ($_->{error} // '') eq 'dropped on purpose' } @$d), 5,
        'none of them delivered';
    is ledger_versions(@ids), '', 'so the ledger lacks them';

    my ($rc, $out, $err) = $t->worker('schedule', '--once',
                                      '--pull-interval', '60',
                                      '--pull-margin', '5');
    is $rc, 0, 'schedule --once exits 0' or diag $err;
    is $out, "schedule: pulled\n", 'it pulled';
    ($rc, my $log) = $t->drain;
    is $rc, 0, 'the jobs processed';
    is ledger_versions(@ids), join(',', map { "$_:1" } @ids),
        'all five recovered';
    is $t->value("SELECT kind || ' ' || status || ' '"
                 . " || (updated_since IS NULL) FROM tracktik_pulls"),
        'scheduled done true', 'recorded: the first one looks at everything';

    ($rc, $out, $err) = $t->worker('schedule', '--once',
                                   '--pull-interval', '60');
    is $out, "schedule: nothing due\n", 'a minute has not passed: not due';
    is $t->value('SELECT count(*) FROM tracktik_pulls'), 1, 'no second pull';

    # a supervisor approves one of them; that delivery is lost too
    $sim->config({ deliver_drop => 1 });
    my $u = $sim->admin('POST', '/__sim/deliver',
                        { kind => 'update', report => $ids[0] })->{deliveries};
    is $u->[0]{error}, 'dropped on purpose', "report $ids[0]'s update dropped";
    sleep 1.2;
    ($rc, $out, $err) = $t->worker('schedule', '--once',
                                   '--pull-interval', '1',
                                   '--pull-margin', '5');
    is $out, "schedule: pulled\n", 'due after a second' or diag $err;
    my ($since_ok, $queued) = @{ ($t->rows(
        'SELECT abs(extract(epoch FROM p.updated_since - (SELECT started_at'
        . '  FROM tracktik_pulls WHERE id = 1) + interval \'5 seconds\'))'
        . ' < 1, p.queued'
        . ' FROM tracktik_pulls p WHERE id = 2'))[0] };
    is $since_ok, 't', 'it asked for reports updated since the last pull '
        . 'minus the margin';
    is $queued, 1, 'only the changed report became a job';
    $t->drain;
    is ledger_versions($ids[0]), "$ids[0]:2", 'its new version recorded';
};

# a schedule process in the background
sub spawn_schedule {
    my ($name, @more) = @_;
    my $log = "$t->{dir}/schedule.$name.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $log;
        exec(TTWorker::binary(), 'schedule', '--pull-interval', '1',
             '--pull-lookback', '2', '--worker-id', $name, @more, '--dsn',
             $t->dsn) or die "exec: $!";
    }
    return $pid;
}

sub pulls_by {
    my ($name) = @_;
    return $t->value("SELECT count(*) FROM tracktik_pulls"
                     . " WHERE worker LIKE '$name:%'");
}

subtest 'two schedule processes: one lease, one schedule' => sub {
    my $a = spawn_schedule('alpha');
    ok wait_until(sub { pulls_by('alpha') >= 1 }, 30), 'alpha pulls';
    my $b = spawn_schedule('beta');
    my %holders;
    for (1 .. 35) {
        sleep 0.1;
        my $h = $t->value("SELECT split_part(holder, ':', 1)"
                          . " FROM tracktik_pull_lease");
        $holders{$h // 'none'}++;
    }
    is join(',', sort keys %holders), 'alpha',
        'the lease stays with alpha while it runs';
    my $by_alpha = pulls_by('alpha');
    cmp_ok $by_alpha, '>=', 3, "alpha keeps pulling every second ($by_alpha)";
    is pulls_by('beta'), 0, 'beta, without the lease, never pulls';

    kill 'TERM', $a;
    waitpid $a, 0;
    is $? >> 8, 0, 'alpha stops cleanly, giving the lease up';
    ok wait_until(sub { pulls_by('beta') >= 2 }, 30),
        'beta takes the schedule over';
    kill 'TERM', $b;
    waitpid $b, 0;

    is $t->value('SELECT count(*) FROM tracktik_pulls a JOIN tracktik_pulls b'
                 . ' ON a.id < b.id AND b.started_at < a.finished_at'
                 . " WHERE a.kind = 'scheduled'"), 0,
        'no two scheduled pulls ran at once';
    is $t->value("SELECT count(*) FROM tracktik_pulls WHERE status <> 'done'"),
        0, 'each one done';
    is $t->value("SELECT coalesce(holder, 'free') FROM tracktik_pull_lease"),
        'free',
        'the lease is free again';
};

subtest 'a holder killed -9: the lease expires and another takes over' => sub {
    my $a = spawn_schedule('gamma', '--pull-lease', '3');
    ok wait_until(sub { pulls_by('gamma') >= 1 }, 30), 'gamma pulls';
    my $b = spawn_schedule('delta', '--pull-lease', '3');
    sleep 1;
    kill 'KILL', $a;
    waitpid $a, 0;
    my $killed = time;
    is $t->value("SELECT split_part(holder, ':', 1) FROM tracktik_pull_lease"),
        'gamma', 'the dead holder still holds the lease';
    ok wait_until(sub { pulls_by('delta') >= 1 }, 30),
        'delta takes over';
    my $after = time - $killed;
    cmp_ok $after, '>=', 1.5, sprintf('not before the lease ran out '
                                      . '(%.1f s)', $after);
    kill 'TERM', $b;
    waitpid $b, 0;
    is $t->value("SELECT count(*) FROM tracktik_pulls WHERE status = 'running'"),
        0, 'no scheduled pull left running';
};

done_testing;
