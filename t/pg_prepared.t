# The webhook's group INSERT is a prepared statement: each connection
# prepares the statement for a group size the first time it sends one
# (tt_<rows>) and then only executes it; after PostgreSQL restarts, the
# new connections prepare it again.  Seen in PostgreSQL's own statement
# log, for a role of this test's that logs every statement.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use IPC::Run ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikTest;

my $role = 'tt_prepared_test';

# as the cluster's superuser (postgres when scripts/pg.sh ran as root, else
# the user who ran it; trust on loopback)
my $superuser = tt_sql("SELECT rolname FROM pg_roles WHERE rolsuper "
                       . "ORDER BY oid LIMIT 1");

sub su_sql {
    my ($sql) = @_;
    my ($out, $err) = ('', '');
    (my $dsn = tt_dsn()) =~ s/\buser=\S+/user=$superuser/;
    IPC::Run::run(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
                   '-d', $dsn, '-c', $sql],
                  \undef, \$out, \$err)
        or die "psql as postgres failed: $err";
    $out =~ s/\s+\z//;
    return $out;
}

su_sql("DO \$\$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role')
          THEN CREATE ROLE $role LOGIN IN ROLE tracktik; END IF;
        END \$\$");
su_sql("ALTER ROLE $role SET log_statement = 'all'");

# the server's log, beside its data directory (scripts/pg.sh's layout)
(my $server_log = su_sql('SHOW data_directory')) =~ s{/data/?\z}{/server.log};
ok -r $server_log, "PostgreSQL's log is at $server_log"
    or BAIL_OUT('nothing to read the statements from');

(my $dsn = tt_dsn()) =~ s/\buser=\S+/user=$role/;

my $secret = "prepared-test-secret-$$";
my $tmp = File::Temp->newdir('tt-prep-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/webhook.secret';
tt_write_file($secret_file, "$secret\n");

my $ngx = TrackTikTest::Nginx->start(
    http => qq{    tracktik_postgres "$dsn" pool=1;\n},
    server => <<"SERVER",
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
        }
SERVER
);

my $seq = 0;

sub deliver {
    my $body = tt_sample_report(id => $$ * 1000 + ++$seq);
    my ($status) = tt_post($ngx->url('/webhooks/tracktik'), $body, {
        'Content-Type' => 'application/json',
        'TrackTik-Subscription-Secret' => tt_hmac_hex('sha512', $secret,
                                                      $body),
    });
    return $status;
}

# the statement log lines of this role written since byte offset $from
sub logged {
    my ($from) = @_;
    open my $fh, '<', $server_log or die "$server_log: $!";
    seek $fh, $from, 0;
    my @lines = grep { /\Q$role\E\@/ } <$fh>;
    close $fh;
    return @lines;
}

my $start = -s $server_log;

# the group INSERT: a call of tracktik_ingest() (sql/functions/ingest.sql)
my $call = qr/SELECT n, job_id FROM tracktik_ingest\(/;

is deliver(), 202, "delivery $_ acknowledged" for 1 .. 3;
my @log = logged($start);
is scalar(grep { /execute tt_1: $call/ } @log), 3,
    'three one-row groups ran the prepared statement tt_1';
is scalar(grep { /execute <unnamed>: $call/ } @log), 0,
    'none was sent as an unnamed statement';

# PostgreSQL restarts: the pool's connection is gone, the new one must
# prepare tt_1 again before running it
tt_pg('restart');
my $after = -s $server_log;
my $status = 0;
for (1 .. 20) {
    $status = deliver();
    last if $status == 202;
    sleep 0.25;
}
is $status, 202, 'a delivery after the restart is acknowledged';
@log = logged($after);
ok scalar(grep { /execute tt_1: $call/ } @log),
    'it ran tt_1 on the new connection';
unlike join('', @log), qr/prepared statement "tt_1" does not exist/,
    'without running an unprepared name';
unlike $ngx->error_log, qr/does not exist|already exists/,
    'and nginx logged no statement error';

$ngx->stop;
su_sql("ALTER ROLE $role RESET log_statement");
done_testing();
