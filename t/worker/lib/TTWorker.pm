package TTWorker;

# Shared helpers for the tracktik-worker integration tests (t/worker/*.t).
#
# Every test gets a database of its own: created on the cluster the
# harness started (PGHOST/PGPORT from `scripts/pg.sh env`), built with
# `tracktik-worker migrate`, dropped at the end.  So the worker suites
# never see the webhook suites' rows, nor each other's.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use lib dirname(__FILE__) . '/../../helper';
use File::Temp qw(tempdir);
use IPC::Run qw(run start timeout);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;

use TrackTikFixture;

use Exporter 'import';
our @EXPORT = qw(report_json wait_until json_encode);

my $repo = abs_path(dirname(__FILE__) . '/../../..');
my $json = JSON::PP->new->canonical;
my @live;                       # databases to drop at the end

sub repo { $repo }

sub binary {
    my $bin = $ENV{TT_WORKER_BINARY} || "$repo/build/tracktik-worker";
    BAIL_OUT("$bin is missing: run make first") unless -x $bin;
    return $bin;
}

sub json_encode { $json->encode($_[0]) }

# connection parameters of the harness's cluster
sub _server {
    my %s = (host => $ENV{PGHOST} || '127.0.0.1', port => $ENV{PGPORT},
             user => $ENV{PGUSER} || 'tracktik');
    if (!$s{port} && ($ENV{TRACKTIK_DSN} || '') =~ /\bport=(\d+)/) {
        $s{port} = $1;
    }
    BAIL_OUT('no PostgreSQL: export PGPORT (eval "$(scripts/pg.sh env)")')
        unless $s{port};
    return \%s;
}

# A fresh, migrated database: TTWorker->new('ledger'); extra arguments
# go to its migrate (TTWorker->new('x', '--sql-dir', $older_schema))
sub new {
    my ($class, $name, @migrate) = @_;
    my $s = _server();
    my $db = "tt_worker_${name}_$$";
    my $self = bless { %$s, db => $db, logs => [],
                       dir => tempdir(CLEANUP => 1) }, $class;

    $self->_admin("DROP DATABASE IF EXISTS $db");
    # as the tracktik role when it may create databases, else as the
    # superuser on its behalf (trust authentication on loopback)
    $self->_admin("CREATE DATABASE $db OWNER $s->{user}")
        or BAIL_OUT("cannot create database $db");
    $self->{created} = 1;
    push @live, $self;

    my ($rc, $out, $err) = $self->worker('migrate', @migrate);
    BAIL_OUT("migrate failed: $err$out") unless $rc == 0;

    return $self;
}

sub _admin {
    my ($self, $sql) = @_;
    for my $user ($self->{user}, 'postgres') {
        my ($out, $err) = ('', '');
        my @cmd = ('psql', '-qXAt', '-h', $self->{host}, '-p', $self->{port},
                   '-U', $user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1',
                   '-c', $sql);
        return 1 if run(\@cmd, \undef, \$out, \$err);
    }
    return 0;
}

sub dsn {
    my $self = shift;
    return "host=$self->{host} port=$self->{port} dbname=$self->{db} "
         . "user=$self->{user}";
}

# runs SQL, returns the rows as arrays of fields ('|' separated)
sub rows {
    my ($self, $sql) = @_;
    my ($out, $err) = ('', '');
    my @cmd = ('psql', '-qXAt', '-h', $self->{host}, '-p', $self->{port},
               '-U', $self->{user}, '-d', $self->{db},
               '-v', 'ON_ERROR_STOP=1', '-f', '-');
    run(\@cmd, \$sql, \$out, \$err)
        or die "psql failed: $err\nSQL: $sql\n";
    return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
}

# the first field of the first row
sub value {
    my ($self, $sql) = @_;
    my @r = $self->rows($sql);
    return @r ? $r[0][0] : undef;
}

# SQL that is expected to fail: returns its error text ('' on success)
sub sql_error {
    my ($self, $sql) = @_;
    my ($out, $err) = ('', '');
    my @cmd = ('psql', '-qXAt', '-h', $self->{host}, '-p', $self->{port},
               '-U', $self->{user}, '-d', $self->{db},
               '-v', 'ON_ERROR_STOP=1', '-c', $sql);
    return run(\@cmd, \undef, \$out, \$err) ? '' : $err;
}

sub quote {
    my ($self, $s) = @_;
    $s =~ s/'/''/g;
    return "'$s'";
}

# queues jobs as the nginx module does: [dedupe_key, payload] pairs, where
# a payload is a hash (encoded here) or raw text
sub enqueue {
    my ($self, @jobs) = @_;
    my @values;
    for my $j (@jobs) {
        my ($key, $payload) = @$j;
        $payload = json_encode($payload) if ref $payload;
        push @values, '(' . $self->quote($key) . ', '
                    . $self->quote($payload) . '::jsonb)';
    }
    while (my @chunk = splice(@values, 0, 500)) {
        $self->rows("INSERT INTO tracktik_jobs (dedupe_key, payload) VALUES "
                    . join(",\n", @chunk));
    }
}

sub load_contracts {
    my ($self, $file) = @_;
    $file ||= "$repo/conf/contracts.example.json";
    my ($rc, $out, $err) = $self->worker('contracts', 'load', $file);
    die "contracts load failed: $err" unless $rc == 0;
    return $out;
}

# writes text to a file in the test's temporary directory
sub file {
    my ($self, $name, $text) = @_;
    my $path = "$self->{dir}/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

# runs the worker to completion: (exit code, stdout, stderr)
sub worker {
    my ($self, @args) = @_;
    my ($out, $err) = ('', '');
    my @cmd = (binary(), @args, '--dsn', $self->dsn);
    run(\@cmd, \undef, \$out, \$err, timeout(180));
    return ($? >> 8, $out, $err);
}

# `run --drain` with extra options; returns (exit code, log)
sub drain {
    my ($self, @args) = @_;
    my ($rc, $out, $err) = $self->worker('run', '--drain', @args);
    push @{ $self->{logs} }, $err;
    return ($rc, $err);
}

# a worker in the background; its stderr goes to a file
sub spawn {
    my ($self, @args) = @_;
    my $log = "$self->{dir}/worker." . (scalar(@{ $self->{spawned} || [] }))
            . '.log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $log or die "$log: $!";
        exec(binary(), 'run', @args, '--dsn', $self->dsn) or die "exec: $!";
    }
    my $w = { pid => $pid, log => $log };
    push @{ $self->{spawned} }, $w;
    return $w;
}

# waits for a spawned worker; returns its wait status
sub reap {
    my ($self, $w, $deadline) = @_;
    $deadline = time + ($deadline || 120);
    while (time < $deadline) {
        my $r = waitpid($w->{pid}, WNOHANG);
        if ($r == $w->{pid}) {
            $w->{status} = $?;
            return $?;
        }
        sleep 0.05;
    }
    kill 'KILL', $w->{pid};
    waitpid($w->{pid}, 0);
    $w->{status} = $?;
    die "worker $w->{pid} did not exit in time\n";
}

sub log_of {
    my ($self, $w) = @_;
    open my $fh, '<', $w->{log} or return '';
    local $/;
    return scalar <$fh>;
}

# polls cond until true or the deadline (seconds) passes; returns its value
sub wait_until {
    my ($cond, $deadline) = @_;
    my $end = time + ($deadline || 60);
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time > $end;
        sleep 0.05;
    }
}

# a TrackTik report entity (ReportsItem) with included relations:
# t/data/reports/after-hours-dispatch.json with the options given
sub report_json {
    my (%o) = @_;
    my $r = TrackTikFixture::report('after-hours-dispatch');
    TrackTikFixture::apply($r, map { defined $o{$_} ? ($_ => $o{$_}) : () }
                               qw(id reportDateTime status account
                                  updatedOn));
    $r->{reportFlag}{id} = $o{flag_id} if defined $o{flag_id};
    $r->{reportFlag}{name} = $o{category} if defined $o{category};
    $r->{reportFlag}{severityLevel} = $o{severity} if defined $o{severity};
    $r->{reportFields} = $o{reportFields} if $o{reportFields};
    $r->{comment} = $o{comment} if defined $o{comment};
    return $r;
}

# dropped in END, before global destruction takes IPC::Run apart
END {
    my $status = $?;
    $_->cleanup for @live;
    $? = $status;
}

sub cleanup {
    my $self = shift;
    return unless $self->{created};
    $self->{created} = 0;
    for my $w (@{ $self->{spawned} || [] }) {
        next if defined $w->{status};
        kill 'KILL', $w->{pid};
        waitpid($w->{pid}, 0);
    }
    $self->_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  . " WHERE datname = '$self->{db}' AND pid <> "
                  . "pg_backend_pid()");
    $self->_admin("DROP DATABASE IF EXISTS $self->{db}");
}

1;
