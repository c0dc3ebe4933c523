# The tracktik_health location: 200 only when a round trip to PostgreSQL
# succeeds in time and the schema is at least the version this build
# needs (TT_SCHEMA_VERSION); 503 with a short reason otherwise.  The
# module logs its version at start, and an old schema once, at error.
#
# The old schemas are databases of their own, made and dropped here, so
# no other suite ever sees the shared database at an older version.

use strict;
use warnings;

use lib 't/helper';
use IO::Socket::INET;
use IPC::Run ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikTest;

my ($version, $schema) = do {
    open my $fh, '<', tt_repo() . '/src/common/tt_version.h' or die $!;
    local $/;
    my $h = <$fh>;
    ($h =~ /#define TT_VERSION\s+"([^"]+)"/,
     $h =~ /#define TT_SCHEMA_VERSION\s+(\d+)/);
};
ok $version && $schema, "tt_version.h: $version, schema $schema";

my $old = "tt_health_old_$$";
my $empty = "tt_health_empty_$$";
(my $old_dsn = tt_dsn()) =~ s/\bdbname=\S+/dbname=$old/ or die tt_dsn();
(my $empty_dsn = tt_dsn()) =~ s/\bdbname=\S+/dbname=$empty/;

sub sql_in {
    my ($dsn, @args) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
                   '-d', $dsn, @args], \undef, \$out, \$err)
        or die "psql: $err";
    return $out;
}

# CREATE and DROP DATABASE: as the suites' role when it may, else as the
# superuser on its behalf (the test cluster trusts loopback, as
# t/worker/lib/TTWorker.pm relies on too)
sub admin {
    my ($sql) = @_;
    (my $dsn = tt_dsn()) =~ s/\bdbname=\S+/dbname=postgres/;
    for my $as ('', ' user=postgres') {
        my ($out, $err) = ('', '');
        return 1 if IPC::Run::run(['psql', '-X', '-q', '-At', '-v',
                                   'ON_ERROR_STOP=1', '-d', "$dsn$as",
                                   '-c', $sql], \undef, \$out, \$err);
    }
    die "could not run as the role or as postgres: $sql\n";
}

sub health_nginx {
    my ($dsn) = @_;
    return TrackTikTest::Nginx->start(
        http => qq{tracktik_postgres "$dsn" pool=1;},
        server => <<'SERVER');
        location = /health { tracktik_health; }
SERVER
}

sub health {
    my ($ngx) = @_;
    my ($status, undef, $body) = tt_get($ngx->url('/health'));
    return ($status, $body);
}

sub count_lines {
    my ($text, $re) = @_;
    return scalar(() = $text =~ /$re/g);
}

my $schema_old = "schema older than module: run tracktik-worker migrate\n";
my $log_old = qr/\[error\][^\n]*the database schema is version (\d+), this module needs $schema: run "tracktik-worker migrate"/;

# an old schema: migrations up to the one before this build's, and the
# live functions of sql/functions/metrics.sql
my ($owner) = tt_sql('SELECT current_user');
admin("CREATE DATABASE $_ OWNER $owner") for $old, $empty;
sql_in($old_dsn, '-c', "CREATE TABLE tracktik_schema_migrations"
                       . " (filename text PRIMARY KEY)");
sql_in($old_dsn, '-c', "INSERT INTO tracktik_schema_migrations SELECT"
                       . " lpad(i::text, 3, '0') || '_x.sql'"
                       . " FROM generate_series(1, $schema - 1) i");
sql_in($old_dsn, '-f', tt_repo() . '/sql/functions/metrics.sql');

subtest 'the schema this build needs: 200, and the version logged' => sub {
    my $ngx = health_nginx(tt_dsn());
    my ($status, $body) = health($ngx);
    is $status, 200, 'status 200';
    is $body, "ok\n", 'ok';
    like $ngx->error_log,
        qr/\[notice\][^\n]*tracktik module \Q$version\E, schema version $schema/,
        'the version is logged at notice when nginx starts';
    unlike $ngx->error_log, qr/\[error\]/, 'no error';
    my ($s405) = tt_post($ngx->url('/health'), 'x');
    is $s405, 405, 'POST: 405';
    $ngx->stop;
};

subtest 'an older schema: 503, said once in the error log' => sub {
    my $ngx = health_nginx($old_dsn);

    # the first worker checks at start, before anybody asks
    my $t0 = time;
    sleep 0.1 while $ngx->error_log !~ $log_old && time - $t0 < 10;
    like $ngx->error_log, $log_old, 'the old schema is logged at start';
    is(($ngx->error_log =~ $log_old)[0], $schema - 1,
       '... with its version');

    for (1 .. 3) {
        my ($status, $body) = health($ngx);
        is $status, 503, "check $_: 503";
        is $body, $schema_old, "... $schema_old";
    }
    is count_lines($ngx->error_log, $log_old), 1,
        'one error line for three checks';

    # migrated meanwhile: healthy without a reload
    sql_in($old_dsn, '-c', "INSERT INTO tracktik_schema_migrations"
                           . " VALUES ('" . sprintf('%03d', $schema)
                           . "_x.sql')");
    my ($status, $body) = health($ngx);
    is $status, 200, 'once migrated: 200';
    $ngx->stop;
};

subtest 'no tracktik schema at all: 503, schema older' => sub {
    my $ngx = health_nginx($empty_dsn);
    my ($status, $body) = health($ngx);
    is $status, 503, 'status 503';
    is $body, $schema_old, $schema_old;
    like $ngx->error_log, qr/schema is version 0, this module needs $schema/,
        'logged as version 0';
    unlike $ngx->error_log, qr/PostgreSQL query failed/,
        'the missing function is an answer, not a failed query';
    $ngx->stop;
};

subtest 'PostgreSQL out of reach: 503' => sub {
    my $closed = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                       LocalPort => 0) or die "listen: $!";
    my $port = $closed->sockport;
    close $closed;
    my $ngx = health_nginx("host=127.0.0.1 port=$port dbname=none "
                           . "connect_timeout=2");
    my $t0 = time;
    my ($status, $body) = health($ngx);
    is $status, 503, 'status 503';
    is $body, "PostgreSQL is unavailable\n", 'PostgreSQL is unavailable';
    ok time - $t0 < 10, 'at once';
    like $ngx->error_log, qr/\[error\][^\n]*could not connect to PostgreSQL/,
        'the connection failure is an error in the log';
    $ngx->stop;
};

subtest 'PostgreSQL too slow: 503 after the health timeout' => sub {
    sql_in($old_dsn, '-c', "CREATE OR REPLACE FUNCTION"
                           . " tracktik_schema_version() RETURNS integer"
                           . " LANGUAGE sql AS 'SELECT $schema FROM"
                           . " pg_sleep(8)'");
    my $ngx = health_nginx($old_dsn);
    my $t0 = time;
    my ($status, $body) = health($ngx);
    my $took = time - $t0;
    is $status, 503, 'status 503';
    is $body, "PostgreSQL did not answer in time\n",
        'PostgreSQL did not answer in time';
    ok $took >= 2.5 && $took < 7, sprintf('after about 3 s (%.1f s)', $took);
    $ngx->stop;
};

subtest 'both locations need tracktik_postgres' => sub {
    for my $d (qw(tracktik_health tracktik_metrics)) {
        my $ngx = eval {
            TrackTikTest::Nginx->start(server => "location = /x { $d; }");
        };
        ok !$ngx, "$d alone: nginx refuses to start";
        like $@, qr/need "tracktik_postgres" in the http block/,
            '... saying what is missing';
        $ngx->stop if $ngx;
    }
};

admin("DROP DATABASE $_ WITH (FORCE)") for $old, $empty;

done_testing;
