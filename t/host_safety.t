#!/usr/bin/perl
# Set-up never harms the host: a PostgreSQL cluster and a system nginx
# that were there before stay up and untouched through `make run`,
# `make test` and `make stop` (same postmaster, same start time, same
# nginx master, same configuration files), and scripts/deps.sh with every
# package present runs no apt, dpkg, systemctl, service or pg_ctlcluster
# (logging shims first on PATH catch any call, in all four runs).
#
# The test changes nothing it did not create: the "pre-existing" cluster
# is a sentinel it makes with pg_createcluster on a free port and drops at
# the end; the system nginx is the one /run/nginx.pid names when it is
# running (only watched), else one of its own started with
# `-g 'pid /run/nginx.pid;'` on a free 127.0.0.1 port and stopped at the
# end.  Needs root (pg_createcluster, /run); skipped otherwise, and under
# make test-asan.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run qw(run timeout);
use Test::More;
use Time::HiRes qw(sleep time);

my $repo = $ENV{TT_REPO}
    || File::Spec->rel2abs(dirname(__FILE__) . '/..');
my $pg_version = 15;
my $nginx_bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $system_pid_file = '/run/nginx.pid';

plan skip_all => 'needs root (pg_createcluster, /run/nginx.pid)' if $> != 0;
# scripts and services: nothing a sanitizer build changes, and its
# LD_PRELOADed runtime must not reach the host's nginx and PostgreSQL
plan skip_all => 'not under make test-asan'
    if ($ENV{TT_BUILD} // '') =~ m{asan} || ($ENV{LD_PRELOAD} // '') =~ /asan/;
for my $tool (qw(pg_createcluster pg_dropcluster pg_lsclusters runuser)) {
    plan skip_all => "no $tool" unless grep { -x "$_/$tool" }
                                       split /:/, $ENV{PATH};
}
plan skip_all => "no $nginx_bin" unless -x $nginx_bin;

my $started = time;

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    return $s->sockport;
}

# a file's text, or undef when it cannot be read
sub slurp { -r $_[0] ? do { local (@ARGV, $/) = ($_[0]); scalar <> } : undef }

sub alive {
    my ($pid, $pattern) = @_;
    return 0 unless $pid && kill 0, $pid;
    my $cmd = slurp("/proc/$pid/cmdline") // return 0;
    my $stat = slurp("/proc/$pid/stat") // '';
    return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    $cmd =~ tr/\0/ /;
    return $cmd =~ $pattern;
}

# (exit code, combined output)
sub sh {
    my ($cmd, %o) = @_;
    my $out = '';
    local %ENV = (%ENV, %{ $o{env} || {} });
    delete $ENV{$_} for @{ $o{unset} || [] };
    run($cmd, \undef, '>&', \$out, timeout($o{timeout} || 600));
    return ($? >> 8, $out);
}

my $tmp = File::Temp->newdir('tt-host-safety-XXXXXX', TMPDIR => 1);
my $dir = $tmp->dirname;
chmod 0755, $dir;        # the postgres user reaches the run directories

# --- the shims: every command that could change a service or a package

my $shims = "$dir/shims";
my $shim_log = "$dir/shims.log";
mkdir $shims or die "$shims: $!";
for my $name (qw(apt apt-get aptitude dpkg systemctl service invoke-rc.d
                 pg_ctlcluster pg_dropcluster pg_createcluster
                 pg_upgradecluster nginx)) {
    open my $fh, '>', "$shims/$name" or die "$shims/$name: $!";
    print $fh "#!/bin/sh\necho \"$name \$*\" >>'$shim_log'\nexit 1\n";
    close $fh;
    chmod 0755, "$shims/$name";
}
my $shim_path = "$shims:$ENV{PATH}";

sub shim_calls {
    my $log = slurp($shim_log) // '';
    unlink $shim_log;
    return $log;
}

# --- the pre-existing PostgreSQL cluster (a sentinel of our own)

my $cluster = "tt_sentinel_$$";
my $pg_port = free_port();
my $pg_conf = "/etc/postgresql/$pg_version/$cluster";
my $pg_data = "/var/lib/postgresql/$pg_version/$cluster";
my ($rc, $out) = sh([ 'pg_createcluster', '--port', $pg_port, '--start',
                      $pg_version, $cluster ]);
if ($rc != 0) {
    plan skip_all => "pg_createcluster failed: $out";
}
my $made_cluster = 1;

sub clusters {
    my ($rc, $out) = sh([ 'pg_lsclusters', '-h' ]);
    return { map { my @f = split ' '; ("$f[0]/$f[1]" => "$f[2] $f[3]") }
             split /\n/, $out };
}

sub sentinel_state {
    my ($rc, $start) = sh([ 'runuser', '-u', 'postgres', '--', 'psql', '-X',
        '-h', '/var/run/postgresql', '-p', $pg_port, '-Atc',
        'SELECT pg_postmaster_start_time()' ]);
    my ($pid) = (slurp("$pg_data/postmaster.pid") // '') =~ /^(\d+)/;
    return {
        status     => clusters()->{"$pg_version/$cluster"},
        postmaster => $pid,
        running    => alive($pid, qr/postgres/) ? 1 : 0,
        started_at => $rc == 0 ? $start : "psql failed: $start",
        map { ("$_" => sha256_hex(slurp("$pg_conf/$_") // 'missing')) }
            qw(pg_hba.conf pg_ident.conf postgresql.conf start.conf),
    };
}

# --- the system nginx: the running one, or one of our own

my $old_pid_file = slurp($system_pid_file);     # maybe a stale one
my ($nginx_pid) = ($old_pid_file // '') =~ /^(\d+)/;
my ($own_nginx, $nginx_port);
if (!alive($nginx_pid, qr/nginx: master/)) {
    $nginx_port = free_port();
    my $prefix = "$dir/system-nginx";
    mkdir $prefix;
    mkdir "$prefix/$_" for qw(conf logs tmp);
    open my $fh, '>', "$prefix/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
worker_processes 1;
error_log $prefix/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 200 "system nginx $$\\n"; }
    }
}
CONF
    close $fh;
    ($rc, $out) = sh([ $nginx_bin, '-p', "$prefix/", '-e',
                       "$prefix/logs/error.log", '-c',
                       "$prefix/conf/nginx.conf", '-g',
                       "pid $system_pid_file;" ]);
    for (1 .. 100) {
        ($nginx_pid) = (slurp($system_pid_file) // '') =~ /^(\d+)/;
        last if alive($nginx_pid, qr/nginx: master/);
        sleep 0.05;
    }
    $own_nginx = 1;
    ok alive($nginx_pid, qr/nginx: master/),
        "a system nginx of our own runs (pid $nginx_pid, port $nginx_port)"
        or diag $out;
}

sub nginx_state {
    my ($pid) = (slurp($system_pid_file) // '') =~ /^(\d+)/;
    my %s = (pid => $pid,
             master => alive($pid, qr/nginx: master/) ? 1 : 0,
             'nginx.conf' => sha256_hex(slurp('/etc/nginx/nginx.conf')
                                        // 'missing'),
             'policy-rc.d' => -e '/usr/sbin/policy-rc.d' ? 1 : 0);
    if ($own_nginx) {
        my $r = HTTP::Tiny->new(timeout => 10)
                          ->get("http://127.0.0.1:$nginx_port/");
        $s{answer} = "$r->{status} $r->{content}";
    }
    return \%s;
}

my %before = (clusters => clusters(), sentinel => sentinel_state(),
              nginx => nginx_state());
is $before{sentinel}{status}, "$pg_port online",
    "sentinel cluster $pg_version/$cluster online on port $pg_port";
ok $before{sentinel}{running}, "postmaster $before{sentinel}{postmaster} runs";

sub unchanged {
    my ($when) = @_;
    is_deeply clusters(), $before{clusters},
        "$when: every cluster in the state it was (pg_lsclusters)";
    is_deeply sentinel_state(), $before{sentinel},
        "$when: the cluster is online, same postmaster, start time, files";
    is_deeply nginx_state(), $before{nginx},
        "$when: the system nginx is the same master, same nginx.conf";
    is shim_calls(), '', "$when: no apt, dpkg, systemctl, service, "
        . 'pg_ctlcluster or nginx command was run';
}

# --- deps.sh alone

subtest 'deps.sh with every package present runs no package or service command' => sub {
    my ($rc, $out) = sh([ "$repo/scripts/deps.sh" ],
                        env => { PATH => $shim_path });
    is $rc, 0, 'exit 0' or diag $out;
    like $out, qr/^deps: all \d+ packages present$/m, 'nothing missing'
        or diag $out;
    unchanged('deps.sh');
};

# --- make run, make test, make stop

my $run_dir = "$dir/run";
my $http_port = free_port();
my $sim_port = free_port();
my %run_env = (PATH => $shim_path, TT_RUN_DIR => $run_dir,
               TT_HTTP_PORT => $http_port, SIM_PORT => $sim_port);
my @unset = qw(TRACKTIK_DSN TEST_NGINX_TRACKTIK_DSN PGHOST PGPORT PGDATABASE
               PGUSER TEST_NGINX_SERVROOT TEST_NGINX_LOAD_MODULES
               TEST_NGINX_POSTGRESQL_PORT TT_TESTS);
my $ran;

sub run_pids {
    my %p;
    for my $name (qw(worker billing sim)) {
        ($p{$name}) = (slurp("$run_dir/$name.pid") // '') =~ /^(\d+)/;
    }
    ($p{nginx}) = (slurp("$run_dir/nginx/logs/nginx.pid") // '') =~ /^(\d+)/;
    ($p{postgres}) = (slurp("$run_dir/pg/data/postmaster.pid") // '')
                     =~ /^(\d+)/;
    return \%p;
}

my $run_pids;
subtest 'make run' => sub {
    my ($rc, $out) = sh([ 'make', '--no-print-directory', '-C', $repo,
                          'run' ], env => \%run_env, unset => \@unset);
    $ran = 1;
    is $rc, 0, 'exit 0' or diag $out;
    $run_pids = run_pids();
    ok alive($run_pids->{nginx}, qr/nginx: master/), 'its nginx runs';
    ok alive($run_pids->{postgres}, qr/postgres/), 'its PostgreSQL runs';
    isnt $run_pids->{postgres}, $before{sentinel}{postmaster},
        'in a cluster of its own';
    unchanged('make run');
};

subtest 'make test (one small suite)' => sub {
    my ($rc, $out) = sh([ 'make', '--no-print-directory', '-C', $repo,
                          'test' ],
        env => { %run_env, TT_RUN_DIR => "$dir/test",
                 TT_TESTS => 't/helper.t',
                 TEST_NGINX_PORT => free_port() },
        unset => [ grep { $_ ne 'TT_TESTS' } @unset ]);
    is $rc, 0, 'exit 0' or diag $out;
    like $out, qr/ALL TESTS PASSED \(suites: t\/helper\.t/, 'the one suite passed';
    unchanged('make test');
    is_deeply run_pids(), $run_pids, 'and what make run started is untouched';
};

subtest 'make stop' => sub {
    my ($rc, $out) = sh([ 'make', '--no-print-directory', '-C', $repo,
                          'stop' ], env => \%run_env, unset => \@unset);
    is $rc, 0, 'exit 0' or diag $out;
    $ran = 0;
    ok !alive($run_pids->{nginx}, qr/nginx: master/), 'its nginx is gone';
    ok !alive($run_pids->{postgres}, qr/postgres/), 'its PostgreSQL is gone';
    unchanged('make stop');
};

diag sprintf 'host_safety.t: %.0f s', time - $started;

END {
    my $status = $?;
    if ($ran) {
        sh([ 'make', '--no-print-directory', '-C', $repo, 'stop' ],
           env => { TT_RUN_DIR => $run_dir }, unset => \@unset);
    }
    if ($own_nginx && $nginx_pid && alive($nginx_pid, qr/nginx: master/)) {
        kill 'QUIT', $nginx_pid;
        for (1 .. 100) {
            last unless alive($nginx_pid, qr/nginx/);
            sleep 0.05;
        }
        my ($now) = (slurp($system_pid_file) // '') =~ /^(\d+)/;
        unlink $system_pid_file if defined $now && $now == $nginx_pid;
        if (defined $old_pid_file && !-e $system_pid_file
            && open my $fh, '>', $system_pid_file)
        {
            print $fh $old_pid_file;        # the stale file as it was
            close $fh;
        }
    }
    if ($made_cluster) {
        sh([ 'pg_dropcluster', '--stop', $pg_version, $cluster ]);
    }
    $? = $status;
}

done_testing;
