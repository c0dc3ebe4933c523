#!/usr/bin/perl
# tracktik-worker's command line as an operator meets it: global options
# anywhere on the line, each command taking only its own options, every
# value checked before the database is needed (exit 2 for any usage
# error), the DSN from a file or the environment, --version, and SIGHUP
# ignored by the two daemons.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run start timeout);
use TTWorker;

my $bin = TTWorker::binary();
my $repo = TTWorker::repo();

# a DSN no server answers: a usage error must come before connecting
my $nowhere = 'host=127.0.0.1 port=1 dbname=none connect_timeout=5';

# (exit code, stdout, stderr) of the worker with exactly these arguments
sub cli {
    my ($env, @args) = @_;
    my ($out, $err) = ('', '');
    local %ENV = %ENV;
    delete $ENV{$_} for qw(TRACKTIK_DSN TRACKTIK_ATTACHMENT_DIR
                           TRACKTIK_SQL_DIR);
    $ENV{$_} = $env->{$_} for keys %$env;
    run([ $bin, @args ], \undef, \$out, \$err, timeout(180));
    return ($? >> 8, $out, $err);
}

my $t = TTWorker->new('cli_options');

subtest '--version prints the one version string' => sub {
    open my $fh, '<', "$repo/src/common/tt_version.h" or die $!;
    my ($version) = join('', <$fh>) =~ /#define\s+TT_VERSION\s+"([^"]+)"/;
    ok $version, "src/common/tt_version.h defines TT_VERSION ($version)";
    for my $args ([ '--version' ], [ 'run', '--version' ],
                  [ '--dsn', 'x', '--version' ]) {
        my ($rc, $out, $err) = cli({}, @$args);
        is $rc, 0, "@$args: exit 0";
        is $out, "tracktik-worker $version\n", "@$args: the version";
    }
};

subtest 'global options go before or after the command' => sub {
    $t->enqueue([ 'anywhere-1', TTWorker::report_json(id => 1) ]);
    my ($rc1, $after, $e1) = cli({}, 'jobs', 'list', '--dsn', $t->dsn);
    my ($rc2, $before, $e2) = cli({}, '--dsn', $t->dsn, 'jobs', 'list');
    my ($rc3, $between, $e3) = cli({}, 'jobs', '--dsn', $t->dsn, 'list');
    is $rc1, 0, 'jobs list --dsn X: exit 0' or diag $e1;
    is $rc2, 0, '--dsn X jobs list: exit 0' or diag $e2;
    is $rc3, 0, 'jobs --dsn X list: exit 0' or diag $e3;
    like $after, qr/^\d+\tqueued\t0\t/m, 'lists the queued job';
    is $before, $after, 'the same listing with --dsn first';
    is $between, $after, '... and with --dsn between the command words';

    my ($rc, $out, $err) = cli({}, '--dsn=' . $t->dsn, '--log-level',
                               'warn', 'run', '--drain');
    is $rc, 0, '--dsn=X --log-level warn run --drain: exit 0' or diag $err;
    unlike $err, qr/level=info/, '--log-level warn: no info lines';
    is $t->value("SELECT count(*) FROM incidents_ledger"), 1,
        'and the job was recorded';
};

subtest 'the command is checked before the database is needed' => sub {
    my ($rc, $out, $err) = cli({}, 'bogus');
    is $rc, 2, 'bogus without a database: exit 2';
    like $err, qr/unknown command or wrong arguments: bogus/, 'names it';
    unlike $err, qr/no database/, 'not "no database"';

    ($rc, $out, $err) = cli({}, 'jobs', 'frob');
    is $rc, 2, 'an unknown subcommand: exit 2';
    like $err, qr/unknown command or wrong arguments: jobs frob/, 'names it';

    ($rc, $out, $err) = cli({}, 'jobs', 'list');
    is $rc, 2, 'a real command without a database: exit 2';
    like $err, qr/no database: pass --dsn CONNINFO or set TRACKTIK_DSN/,
        'says how to name one';
};

subtest 'an option of another command is refused, naming both' => sub {
    my ($rc, $out, $err) = cli({}, 'jobs', 'list', '--concurrency', '4',
                               '--dsn', $t->dsn);
    is $rc, 2, 'jobs list --concurrency 4: exit 2';
    like $err, qr/--concurrency is not an option of jobs list/,
        'names the option and the command';
    is $out, '', 'lists nothing';

    for my $case ([ 'contracts', 'list', '--drain' ],
                  [ 'users', 'list', '--once' ],
                  [ 'migrate', '--state', 'dead' ],
                  [ 'jobs', 'list', '--url', 'http://x' ],
                  [ 'billing', 'sync', '--batch-size', '5' ],
                  [ 'run', '--client', '7' ],
                  [ 'archive', 'build', '--no-archives' ],
                  [ 'run', '--keep-days', '9' ],
                  [ 'run', '--progress-interval', '1' ]) {
        ($rc, $out, $err) = cli({}, @$case, '--dsn', $nowhere);
        my ($opt) = grep { /^--/ } @$case;
        is $rc, 2, "@$case: exit 2";
        like $err, qr/\Q$opt\E is not an option of/, "@$case: says so";
    }

    ($rc, $out, $err) = cli({}, 'run', '--frobnicate', '--dsn', $nowhere);
    is $rc, 2, 'an option no command has: exit 2';
    like $err, qr/--frobnicate: unknown option/, 'says so';
};

subtest 'every value is checked at start' => sub {
    my @bad = (
        [ [ 'run', '--concurrency', '0' ], qr/--concurrency: "0" is not a number in 1\.\.64/ ],
        [ [ 'run', '--concurrency', '65' ], qr/--concurrency: "65" is not a number in 1\.\.64/ ],
        [ [ 'run', '--lease-seconds', '99999999999999' ], qr/--lease-seconds: .* is not a number/ ],
        [ [ 'run', '--poll-interval', '5ms' ], qr/--poll-interval: "5ms" is not a number/ ],
        [ [ 'jobs', 'list', '--limit', '-1' ], qr/--limit: "-1" is not a number/ ],
        [ [ 'billing', 'sync', '--api-timeout-ms', '30000' ], qr/--api-timeout-ms: "30000" is not a number in 100\.\.29000/ ],
        [ [ 'run', '--default-time-zone', 'Mars/Olympus' ], qr/--default-time-zone: "Mars\/Olympus" is not a time zone/ ],
        [ [ 'run', '--default-time-zone', '../../etc/passwd' ], qr/is not a time zone/ ],
        [ [ 'run', '--default-time-zone', '' ], qr/"" is not a time zone/ ],
        [ [ 'contracts', 'load', 'x.json', '--effective-from', 'soon' ], qr/--effective-from: "soon" is not a date/ ],
        [ [ 'run', '--log-level', 'loud' ], qr/--log-level: "loud" is not a log level/ ],
        [ [ 'jobs', 'list', '--limit' ], qr/--limit needs a value/ ],
        [ [ 'run', '--drain=yes' ], qr/--drain takes no value/ ],
        [ [ 'contracts', 'load' ], qr/missing arguments: usage: tracktik-worker contracts load FILE/ ],
        [ [ 'contracts', 'list', 'extra' ], qr/too many arguments/ ],
        [ [ 'jobs', 'retry' ], qr/usage: tracktik-worker jobs retry ID \| --dead/ ],
        [ [ 'jobs', 'retry', '7', '--dead' ], qr/usage: tracktik-worker jobs retry ID \| --dead/ ],
        [ [ 'users', 'add' ], qr/missing arguments/ ],
        [ [ 'run', '--archive-keep-days', '-1' ], qr/--archive-keep-days: "-1" is not a number in 0\.\.36500/ ],
        [ [ 'run', '--no-archives=yes' ], qr/--no-archives takes no value/ ],
        [ [ 'import', 'x.csv', '--progress-interval', '0' ], qr/--progress-interval: "0" is not a number in 1\.\.3600/ ],
    );
    for my $case (@bad) {
        my ($args, $re) = @$case;
        my ($rc, $out, $err) = cli({}, '--dsn', $nowhere, @$args);
        is $rc, 2, "@$args: exit 2";
        like $err, $re, "@$args: names the problem";
        unlike $err, qr/cannot connect/, "@$args: before any connection";
    }

    my ($rc, $out, $err) = cli({ TRACKTIK_ATTACHMENT_DIR => '' }, 'run',
                               '--batch-size', '0', '--dsn', $nowhere);
    is $rc, 2, 'an empty $TRACKTIK_ATTACHMENT_DIR is fine, the value not';
};

subtest 'a refused time zone dead-letters nothing' => sub {
    $t->enqueue([ 'zone-1', TTWorker::report_json(id => 2) ]);
    my ($rc, $out, $err) = cli({}, 'run', '--drain', '--default-time-zone',
                               'Mars/Olympus', '--dsn', $t->dsn);
    is $rc, 2, 'run --default-time-zone Mars/Olympus: exit 2';
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'queued'"),
        1, 'the job is still queued, not dead';
    ($rc, $out, $err) = cli({}, 'run', '--drain', '--default-time-zone',
                            'Europe/Paris', '--dsn', $t->dsn);
    is $rc, 0, 'a zone the database knows runs' or diag $err;
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 2"),
        1, 'and records the job';
};

subtest 'the DSN from a file or the environment' => sub {
    my $file = $t->file('dsn', $t->dsn . "\n");
    my ($rc, $out, $err) = cli({}, 'contracts', 'list', '--dsn-file', $file);
    is $rc, 0, '--dsn-file FILE: exit 0' or diag $err;
    like $out, qr/^version\teffective_from/, 'listed';

    ($rc, $out, $err) = cli({ TRACKTIK_DSN => $t->dsn }, 'contracts', 'list');
    is $rc, 0, 'TRACKTIK_DSN: exit 0' or diag $err;

    ($rc, $out, $err) = cli({}, 'contracts', 'list', '--dsn-file',
                            "$t->{dir}/missing");
    is $rc, 2, 'a missing --dsn-file: exit 2';
    like $err, qr/cannot read --dsn-file .*missing: No such file/, 'says so';

    my $empty = $t->file('empty', '');
    ($rc, $out, $err) = cli({}, 'contracts', 'list', '--dsn-file', $empty);
    is $rc, 2, 'an empty --dsn-file: exit 2';
    like $err, qr/is empty/, 'says so';

    my $secret = $t->file('secret-dsn',
        "host=127.0.0.1 port=1 password=file-s3cret connect_timeout=5\n");
    ($rc, $out, $err) = cli({}, 'jobs', 'list', '--dsn-file', $secret);
    is $rc, 1, 'a connection failure: exit 1';
    unlike "$out$err", qr/file-s3cret/, 'without the password from the file';
};

subtest 'COMMAND --help: that command alone' => sub {
    my ($rc, $out) = cli({}, 'jobs', 'list', '--help');
    is $rc, 0, 'exit 0';
    like $out, qr/^usage: tracktik-worker jobs list /, 'its usage line';
    like $out, qr/--limit N/, 'its options';
    like $out, qr/--dsn CONNINFO/, 'the global ones';
    unlike $out, qr/--concurrency|--once/, 'no one else\'s';

    ($rc, $out) = cli({}, 'billing', 'sync', '--help');
    like $out, qr/--poll-interval MS.*--api-rate N/s,
        'billing sync: its own and the TrackTik API options';

    # the scheduled audit compares the pull's own pages (doc/audit.md)
    ($rc, $out) = cli({}, 'schedule', '--help');
    (my $flat = $out) =~ s/\s+/ /g;
    like $flat, qr/--no-audit do not audit each pull \(the audit compares the pages the pull listed with the ledger, asking TrackTik nothing more/,
        'schedule --help: its audit asks TrackTik nothing more';

    ($rc, $out) = cli({}, '--help');
    my @commands = $out =~ /^  ((?:[a-z]+ )?[a-z]+)(?: [\[A-Z(-]|\s*$|\s{2})/mg;
    for my $c (qw(run migrate), 'contracts load', 'jobs retry', 'users add',
               'auth login', 'billing sync') {
        ok((grep { $_ eq $c } @commands), "--help lists $c");
    }
};

subtest 'SIGHUP does not stop billing sync' => sub {
    my ($out, $err) = ('', '');
    my $h = start([ $bin, 'billing', 'sync', '--url', 'http://127.0.0.1:1',
                    '--dsn', $t->dsn ], \undef, \$out, \$err, timeout(120));
    ok TTWorker::wait_until(sub { $h->pump_nb; $err =~ /billing sync stopped/ }),
        'waiting for a login';
    $h->signal('HUP');
    sleep 1;
    $h->pump_nb;
    ok $h->pumpable, 'still running after SIGHUP';
    $h->signal('TERM');
    $h->finish;
    is $h->full_result(0), 0, 'SIGTERM: exit 0';
};

subtest 'SIGHUP does not stop run --concurrency 2' => sub {
    my $w = $t->spawn('--concurrency', '2', '--poll-interval', '100');
    ok TTWorker::wait_until(sub { $t->log_of($w) =~ /event=connected.*event=connected/s }),
        'both processes connected';
    kill 'HUP', $w->{pid};
    $t->enqueue([ 'hup-1', TTWorker::report_json(id => 3) ]);
    ok TTWorker::wait_until(sub {
        $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 3") == 1
    }), 'a job after SIGHUP is processed';
    ok kill(0, $w->{pid}), 'the supervisor is alive';
    unlike $t->log_of($w), qr/event=process_exited/, 'no process died';
    kill 'TERM', $w->{pid};
    is $t->reap($w), 0, 'SIGTERM: exit 0';
};

done_testing;
