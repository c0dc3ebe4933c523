#!/usr/bin/perl
# tracktik-worker import killed midway (doc/import.md: one transaction
# per file).  A large export is imported and the worker killed with
# SIGKILL twice: while its rows are being read and copied (its backend in
# COPY, progress lines showing rows, the file not yet read), and during
# the merge (its backend running tracktik_import_merge).  Each time
# nothing of it may remain: no ledger row, billing line, import run or
# daily count.  The same import run again afterwards must then give what
# a clean import of the file gives in a database of its own (the same
# ledger, billing lines and daily counts), and a third run must find
# every row unchanged.
#
# Every step polls with generous deadlines; a worker that got past the
# phase before it was killed is noticed, and the kill tried again with
# an export twice as large, never passed on.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use TTWorker;
use TTImport;

my $t = TTWorker->new('import_kill');
$t->load_contracts;

my $rows = 100000;
my $file;

sub export {
    $file = export_file($t, "kill-$rows.csv", '--rows', $rows);
}

# what an import writes, counted
sub written {
    return join ' ', map { $t->value("SELECT count(*) FROM $_") }
        qw(incidents_ledger billing_lines import_runs incidents_daily);
}

# the ledger, billing lines and daily counts of a database, as text
sub fingerprint {
    my ($w) = @_;
    my %q = (
        incidents_ledger => "format('%s/%s/%s/%s/%s', report_id, version, "
                            . "raw_sha256, occurred_at, category)",
        billing_lines => "format('%s/%s/%s/%s/%s/%s', report_id, "
                         . "ledger_version, kind, bill_code, quantity, "
                         . "service_date)",
        incidents_daily => "format('%s/%s/%s/%s/%s/%s', utc_day, client_id, "
                           . "site_id, severity, local_day, n)");
    return join ' ', map {
        $w->value("SELECT count(*) || ':' || md5(coalesce(string_agg(r, "
                  . "E'\\n' ORDER BY r), '')) FROM (SELECT $q{$_} AS r "
                  . "FROM $_) x")
    } sort keys %q;
}

# the backends other than ours on the test's database whose query is
# like $like and still running
sub backend_at {
    my ($like) = @_;
    return $t->value("SELECT count(*) FROM pg_stat_activity WHERE datname "
                     . "= current_database() AND pid <> pg_backend_pid() "
                     . "AND state = 'active' AND query LIKE '$like'");
}

sub backends_gone {
    return wait_until(sub {
        $t->value("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname "
                  . "= current_database() AND pid <> pg_backend_pid()")
            eq 't' }, 600);
}

# starts the import with stderr to a file, waits until $ready says the
# phase is under way, kills it with SIGKILL; returns (how it ended, its
# stderr): 'killed' when the kill hit it in that phase
sub kill_during {
    my ($ready) = @_;
    my $log = "$t->{dir}/import.err";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>', '/dev/null' or POSIX::_exit(126);
        open STDERR, '>', $log or POSIX::_exit(126);
        exec(TTWorker::binary(), 'import', $file, '--progress-interval', 1,
             '--dsn', $t->dsn) or POSIX::_exit(127);
    }
    my ($exited, $status) = (0, undef);
    my $hit = wait_until(sub {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            ($exited, $status) = (1, $?);
            return 1;
        }
        return $ready->($log);
    }, 600);
    if (!$exited) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $status = $?;
    }
    my $err = slurp($log);
    my $how = $exited ? "exited by itself (status $status)"
            : !$hit ? 'never reached the phase in 600 s'
            : ($status & 127) == POSIX::SIGKILL() ? 'killed'
            : "ended with status $status";
    return ($how, $err);
}

sub progress_rows {
    my ($log) = @_;
    my $err = -e $log ? slurp($log) : '';
    my @n = $err =~ /^import: (\d+) rows, \d+ rows\/s, \d+%, ETA \d+ s$/mg;
    return ($n[-1] // 0, $err);
}

# while reading: rows copied so far (a progress line), the file not read
# yet, and the backend in COPY
sub while_copying {
    my ($log) = @_;
    my ($n, $err) = progress_rows($log);
    return $n > 0 && $err !~ /merging/
        && backend_at('COPY tracktik_import_staging FROM STDIN%');
}

sub while_merging {
    return backend_at('%tracktik_import_merge(%');
}

sub kill_and_check {
    my ($name, $ready, $after) = @_;
    subtest "killed $name" => sub {
        my ($how, $err);
        for my $try (1 .. 3) {
            export() if !$file || $try > 1;
            ($how, $err) = kill_during($ready);
            last unless $how eq 'killed' && !$after->($err);
            diag "the import got past the phase: twice as many rows";
            $how = 'got past the phase';
            $rows *= 2;
        }
        is $how, 'killed', "SIGKILL $name ($rows rows)" or diag $err;
        ok $after->($err), 'the phase it was in' or diag $err;
        ok backends_gone(), 'its backend has gone';
        is written(), '0 0 0 0', 'no ledger row, billing line, import run '
                                 . 'or daily count is left of it';
    };
}

is written(), '0 0 0 0', 'an empty ledger to begin with';

kill_and_check('while its rows are copied', \&while_copying, sub {
    my ($err) = @_;
    return $err =~ /^import: [1-9]\d* rows,/m && $err !~ /merging|100%/;
});

kill_and_check('during the merge', \&while_merging, sub {
    my ($err) = @_;
    return $err =~ /^import: merging into the ledger$/m;
});

subtest 'the same import afterwards: the full result' => sub {
    my ($rc, $out, $err) = $t->worker('import', $file);
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/: $rows rows: $rows new, 0 unchanged, 0 updated, 0 rejected/,
         'every row new';
    is $t->value('SELECT count(*) FROM import_runs'), 1, 'one import run';

    # a clean import of the same file into a database of its own
    my $ref = TTWorker->new('import_kill_ref');
    $ref->load_contracts;
    my ($rrc, $rout, $rerr) = $ref->worker('import', $file);
    is $rrc, 0, 'a clean import: exit 0' or diag $rerr;
    is $out =~ s/^.*?: //r, $rout =~ s/^.*?: //r, 'the same summary';
    is fingerprint($t), fingerprint($ref),
       'the same ledger, billing lines and daily counts';
    ok $t->value('SELECT count(*) FROM billing_lines') > 0,
       'billing lines among them';

    ($rc, $out, $err) = $t->worker('import', $file);
    is $rc, 0, 'a third run: exit 0' or diag $err;
    like $out, qr/: $rows rows: 0 new, $rows unchanged, 0 updated, 0 rejected/,
         'every row unchanged';
    is fingerprint($t), fingerprint($ref), 'nothing changed';
};

done_testing;
