#!/usr/bin/perl
# Least privilege, end to end (sql/migrations/014_roles.sql,
# sql/functions/zz_privileges.sql, doc/production-roles.md).
#
# A PostgreSQL cluster of this test's own, where every TCP login needs a
# scram-sha-256 password (only the test's set-up uses the superuser, on a
# private unix socket).  The owner migrates and creates one LOGIN user per
# runtime role; every password is in a passfile (mode 600) named by
# PGPASSFILE, and none is in nginx.conf or on a command line.  Then the
# whole loop, each part as its own role: a signed webhook to nginx
# (tracktik_ingest_role) -> `tracktik-worker run --drain`
# (tracktik_worker_role) -> `billing sync` against the simulator
# (tracktik_billing_role) -> portal login and incident list through nginx's
# tracktik_portal_postgres (tracktik_portal_role).  And each role is
# refused what it must not do.  The cluster is stopped at the end, also
# when the test dies.

use strict;
use warnings;

use lib 't/helper';
use lib 't/worker/lib';
use File::Path ();
use File::Temp ();
use IPC::Run qw(run timeout);
use Test::More;
use TrackTikTest;
use TTWorker;
use TTSim;

my $bin = $ENV{PG_BIN} || '/usr/lib/postgresql/15/bin';
plan skip_all => "no PostgreSQL 15 binaries in $bin" unless -x "$bin/initdb";

my $root = $> == 0;
# removed by stop_cluster() once the server is down (not by File::Temp,
# whose clean-up may run first when the test dies)
my $dir = File::Temp::tempdir('tt-roles-XXXXXX', TMPDIR => 1);
my ($data, $sock) = ("$dir/data", "$dir/sock");
my $port = TrackTikNginxConf::free_port();
my $db = 'tracktik';

# initdb and the server refuse root: the postgres OS user runs them
sub as_pg {
    my @cmd = @_;
    @cmd = ('runuser', '-u', 'postgres', '--', @cmd) if $root;
    my ($out, $err) = ('', '');
    my $ok = run(\@cmd, \undef, \$out, \$err, timeout(120));
    return ($ok, "$out$err");
}

chmod 0755, $dir;
mkdir $sock or die "$sock: $!";
if ($root) {
    my ($uid, $gid) = (getpwnam('postgres'))[2, 3];
    BAIL_OUT('no postgres OS user to run the cluster as') unless defined $uid;
    chown $uid, $gid, $dir, $sock;
}

my ($ok, $out) = as_pg("$bin/initdb", '-D', $data, '-E', 'UTF8',
                       '--locale=C', '-U', 'postgres', '--auth=trust');
BAIL_OUT("initdb failed: $out") unless $ok;

# TCP: passwords, scram-sha-256 only; the unix socket (a directory of
# this test's) is the superuser's, for the set-up below
open my $hba, '>', "$data/pg_hba.conf" or die "pg_hba.conf: $!";
print $hba "local all postgres trust\n",
           "host all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
open my $conf, '>>', "$data/postgresql.conf" or die "postgresql.conf: $!";
print $conf "\n# t/roles.t\nlisten_addresses = '127.0.0.1'\nport = $port\n",
            "unix_socket_directories = '$sock'\n",
            "password_encryption = 'scram-sha-256'\n",
            "max_connections = 40\nfsync = off\n";
close $conf;

($ok, $out) = as_pg("$bin/pg_ctl", '-D', $data, '-l', "$dir/server.log",
                    '-w', '-t', '60', 'start');
BAIL_OUT("the cluster did not start: $out") unless $ok;
my $running = 1;

sub stop_cluster {
    return unless $running;
    $running = 0;
    my ($stopped, $why) = as_pg("$bin/pg_ctl", '-D', $data, '-m', 'fast',
                                '-w', '-t', '60', 'stop');
    if (!$stopped) {
        diag "the cluster in $dir did not stop: $why";
    } elsif (!$ENV{TT_KEEP_CLUSTER}) {
        File::Path::remove_tree($dir);
    }
}

END { my $rc = $?; stop_cluster(); $? = $rc }
$SIG{INT} = $SIG{TERM} = sub { stop_cluster(); exit 130 };

# psql as the superuser (unix socket)
sub su_sql {
    my ($sql, $dbname) = @_;
    my ($o, $e) = ('', '');
    run(["$bin/psql", '-XqAt', '-h', $sock, '-p', $port, '-U', 'postgres',
         '-d', $dbname // 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', $sql],
        \undef, \$o, \$e, timeout(60))
        or die "psql as postgres: $e\nSQL: $sql\n";
    chomp $o;
    return $o;
}

my %dsn;
sub dsn { "host=127.0.0.1 port=$port dbname=$db user=$_[0]" }

# SQL as a login role over TCP, its password from the passfile:
# (ok, output, error)
sub as_role {
    my ($user, $sql) = @_;
    my ($o, $e) = ('', '');
    my $ok = run(["$bin/psql", '-XqAt', '-v', 'ON_ERROR_STOP=1',
                  '-d', dsn($user), '-c', $sql],
                 \undef, \$o, \$e, timeout(60));
    chomp $o;
    return ($ok, $o, $e);
}

sub value_as {
    my ($user, $sql) = @_;
    my ($ok, $o, $e) = as_role($user, $sql);
    die "psql as $user: $e\nSQL: $sql\n" unless $ok;
    return $o;
}

sub refused {
    my ($user, $sql, $pattern, $name) = @_;
    my ($ok, $o, $e) = as_role($user, $sql);
    ok !$ok && $e =~ $pattern, "$user: $name"
        or diag "ok=$ok out=$o err=$e";
}

# one LOGIN user per runtime role, and the owner
my %user = (owner => 'tt_owner', ingest => 'tt_nginx', portal => 'tt_portal',
            worker => 'tt_worker', billing => 'tt_billing',
            notify => 'tt_notify');
my %password;
my $passfile = "$dir/pgpass";
open my $pf, '>', $passfile or die "$passfile: $!";
for my $u (sort values %user) {
    $password{$u} = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 24;
    print $pf "127.0.0.1:$port:$db:$u:$password{$u}\n";
}
close $pf;
chmod 0600, $passfile;
$ENV{PGPASSFILE} = $passfile;
delete @ENV{qw(PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE)};

# the owner may create roles (not a superuser): migrate makes the group
# roles, the owner its login users
su_sql("CREATE ROLE $user{owner} LOGIN CREATEROLE "
       . "PASSWORD '$password{$user{owner}}'");
su_sql("CREATE DATABASE $db OWNER $user{owner} ENCODING 'UTF8'");

my $worker_bin = TTWorker::binary();
my $repo = TTWorker::repo();

sub worker_as {
    my ($who, $stdin, @args) = @_;
    my ($o, $e) = ('', '');
    run([ $worker_bin, @args, '--dsn', dsn($user{$who}) ], \$stdin, \$o,
        \$e, timeout(300));
    return ($? >> 8, $o, $e);
}

my ($rc, $err);
($rc, $out, $err) = worker_as('owner', undef, 'migrate', '--sql-dir',
                              "$repo/sql");
is $rc, 0, 'the owner migrated over scram-sha-256, its password in the '
           . 'passfile' or diag $err;
unlike "$out$err", qr/may not create roles/, 'and created the roles';

for my $r (qw(ingest portal worker billing notify)) {
    value_as($user{owner}, "CREATE ROLE $user{$r} LOGIN "
             . "PASSWORD '$password{$user{$r}}' IN ROLE tracktik_${r}_role");
}
# doc/production-roles.md's hardening: only our roles connect, no TEMP
value_as($user{owner}, "REVOKE CONNECT, TEMP ON DATABASE $db FROM PUBLIC; "
         . "GRANT CONNECT ON DATABASE $db TO tracktik_ingest_role, "
         . "tracktik_portal_role, tracktik_worker_role, "
         . "tracktik_billing_role, tracktik_notify_role; "
         . "GRANT TEMP ON DATABASE $db TO tracktik_worker_role");
is su_sql("SELECT count(*) FROM pg_authid WHERE rolname LIKE 'tt\\_%' "
          . "AND rolpassword LIKE 'SCRAM-SHA-256\$%'"), 6,
    'every login role has a scram-sha-256 verifier';

# wrong password: refused, so the passfile is what lets them in
{
    my ($o, $e) = ('', '');
    local $ENV{PGPASSFILE} = '/dev/null';
    local $ENV{PGPASSWORD} = 'not-the-password';
    run(["$bin/psql", '-XqAt', '-d', dsn($user{worker}), '-c', 'SELECT 1'],
        \undef, \$o, \$e, timeout(60));
    like $e, qr/password authentication failed/,
        'a wrong password is refused (scram-sha-256 on 127.0.0.1)';
}

# the operator's set-up, as the owner: rules, a portal user, the tenant
my $sim = TTSim->new(repo => $repo);
my $fdir = "$dir/files";
mkdir $fdir or die "$fdir: $!";

tt_write_file("$fdir/contracts.json", TTWorker::json_encode({
    name => 'roles test', effective_from => '2020-01-01',
    rules => [ { id => 'adh', priority => 10,
                 match => { category => 'After hours dispatch' },
                 bill_code => 'ADH', quantity => 1, unit_price => 95 } ] }));
($rc, $out, $err) = worker_as('owner', undef, 'contracts', 'load',
                              "$fdir/contracts.json");
is $rc, 0, 'contracts loaded' or diag $err;

my %post;
for my $p (@{ $sim->get('/rest/v1/positions?limit=1000')->{data} }) {
    $post{ $p->{id} } = [ $p->{account}, $p->{contract} ];
}
my ($pos) = sort { $a <=> $b } grep { defined $post{$_}[1] } keys %post;
ok $pos, 'the tenant has a billable post';
my $site = $post{$pos}[0];
my $client = 101;

my $email = "client.$$\@roles.test";
my $portal_password = "portal-pass-$$";
($rc, $out, $err) = worker_as('owner', "$portal_password\n", 'users', 'add',
                              $email, '--client', $client);
is $rc, 0, 'portal user added' or diag $err;

tt_write_file("$fdir/client.secret", "$TTSim::DEMO{client_secret}\n");
($rc, $out, $err) = worker_as('owner', "$TTSim::DEMO{password}\n", 'auth',
    'login', '--url', $sim->url, '--client-id', $TTSim::DEMO{client_id},
    '--client-secret-file', "$fdir/client.secret", '--username',
    $TTSim::DEMO{username}, '--password-stdin');
is $rc, 0, 'logged in to the simulator (owner)' or diag $err;

# nginx: each pool its own role, passwords from PGPASSFILE
my $hook_secret = "roles-hook-secret-$$";
tt_write_file("$fdir/webhook.secret", "$hook_secret\n");
tt_write_file("$fdir/session.secret", ('s' x 40) . "$$\n");

my $ngx = TrackTikTest::Nginx->start(
    main => "env PGPASSFILE;\n",
    http => <<"HTTP",
    tracktik_postgres "@{[ dsn($user{ingest}) ]}" pool=1;
    tracktik_portal_postgres "@{[ dsn($user{portal}) ]}" pool=1;
HTTP
    server => <<"SERVER",
        tracktik_session_secret_file $fdir/session.secret;
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $fdir/webhook.secret;
        }
        location /portal/api/ {
            tracktik_portal_api;
        }
SERVER
);

{
    open my $fh, '<', $ngx->prefix . '/conf/nginx.conf' or die $!;
    local $/;
    my $text = <$fh>;
    my @found = grep { index($text, $password{$_}) >= 0 } keys %password;
    is "@found", '', 'no password in nginx.conf';
    like $text, qr/tracktik_portal_postgres "[^"]*user=$user{portal}/,
        'the portal pool has a conninfo of its own';
}

# a notification rule for every incident (the outbox is filled by the
# ledger's trigger as whoever inserts: here tt_worker)
tt_write_file("$fdir/notify.json", TTWorker::json_encode({
    name => 'roles test', recipients => { ops => { email => 'ops@roles.test' } },
    rules => [ { id => 'all', notify => ['ops'], mode => 'immediate' } ] }));
($rc, $out, $err) = worker_as('owner', undef, 'notify', 'rules', 'load',
                              "$fdir/notify.json");
is $rc, 0, 'notification rules loaded' or diag $err;

# 1. a signed webhook: nginx as tt_nginx
my $report_id = 8_100_000 + $$ % 100_000;
my $report = TTWorker::report_json(id => $report_id, status => 'APPROVED',
    category => 'After hours dispatch', updatedOn => '2026-03-03T00:00:00Z',
    account => { id => $site, parentClient => $client,
                 timeZone => 'America/Toronto' });
$report->{position} = { id => $pos };
# with a photo of the simulator's, for the worker's photo pass
my ($photo) = grep { ($_->{value} // '') =~ m{/uploads/report-photos/\d+\.png$} }
    map { @{ $_->{reportFields} || [] } }
    @{ $sim->get('/rest/v1/reports?id:gt=0&limit=100&include=reportFields')
           ->{data} };
ok $photo, 'the simulator has a report photo';
push @{ $report->{reportFields} }, $photo if $photo;
my $body = TTWorker::json_encode($report);
my ($status, undef, $content) = tt_post($ngx->url('/webhooks/tracktik'),
    $body, { 'Content-Type' => 'application/json',
             'TrackTik-Subscription-Secret' =>
                 tt_hmac_hex('sha512', $hook_secret, $body) });
is $status, 202, 'webhook acknowledged by nginx as tt_nginx'
    or diag $content, $ngx->error_log;
is value_as($user{owner}, "SELECT count(*) FROM tracktik_jobs"), 1,
    'one job queued';
is value_as($user{owner}, "SELECT usename FROM pg_stat_activity "
            . "WHERE application_name = 'ngx_http_tracktik' "
            . "AND usename = '$user{ingest}' LIMIT 1"), $user{ingest},
    'the webhook pool is connected as tt_nginx';

# 2. the worker as tt_worker
mkdir "$fdir/attachments";
($rc, $out, $err) = worker_as('worker', undef, 'run', '--drain',
                              '--attachment-dir', "$fdir/attachments");
is $rc, 0, 'run --drain as tt_worker' or diag $err;
is value_as($user{owner}, "SELECT count(*) FROM incidents_ledger "
            . "WHERE report_id = $report_id"), 1, 'the report is in the ledger';
# the same login through a service file (PGSERVICEFILE), the password
# still from the passfile
tt_write_file("$fdir/pg_service.conf", "[tracktik_worker]\nhost=127.0.0.1\n"
              . "port=$port\ndbname=$db\nuser=$user{worker}\n");
{
    local $ENV{PGSERVICEFILE} = "$fdir/pg_service.conf";
    my ($o, $e) = ('', '');
    run([ $worker_bin, 'jobs', 'list', '--dsn', 'service=tracktik_worker' ],
        \undef, \$o, \$e, timeout(120));
    is $? >> 8, 0, 'the worker connects with service=tracktik_worker'
        or diag $e;
}
is value_as($user{owner}, "SELECT count(*) FROM tracktik_jobs"), 0,
    'and the queue is empty';
is value_as($user{owner}, "SELECT count(*) FROM portal_attachments "
            . "WHERE report_id = $report_id"), 1, 'and its photo stored';
my $lines = value_as($user{owner}, "SELECT count(*) FROM billing_lines "
                     . "WHERE report_id = $report_id");
cmp_ok $lines, '>=', 1, 'with a billing line';

# 3. billing sync as tt_billing
($rc, $out, $err) = worker_as('billing', undef, 'billing', 'sync', '--once');
is $rc, 0, 'billing sync --once as tt_billing' or diag $err;
is value_as($user{owner}, "SELECT count(*) FROM billing_lines "
            . "WHERE report_id = $report_id AND state = 'posted' "
            . "AND external_id IS NOT NULL"), $lines,
    'every line posted to the simulator'
    or diag $err, value_as($user{owner}, "SELECT state, last_error "
                           . "FROM billing_lines");

# 3b. the notification the worker's insert queued, sent as tt_notify (to
# a relay that is not there: the attempt is what must be recorded)
is value_as($user{owner}, "SELECT count(*) FROM notifications "
            . "WHERE report_id = $report_id"), 1,
    'tt_worker\'s ledger insert queued one notification';
($rc, $out, $err) = worker_as('notify', undef, 'notify', 'run', '--drain',
                              '--smtp-url', 'smtp://127.0.0.1:9',
                              '--smtp-from', 'incidents@roles.test');
is $rc, 0, 'notify run --drain as tt_notify' or diag $err;
unlike $err, qr/permission denied/, '... without a refusal';
is value_as($user{owner}, "SELECT count(*) FROM notify_attempts a "
            . "JOIN notifications n ON n.id = a.notification_id "
            . "WHERE n.report_id = $report_id"), 1,
    '... which claimed it and recorded the failed attempt';

# 3c. the scheduled pull as tt_worker: the lease, the run and its pages
($rc, $out, $err) = worker_as('worker', undef, 'schedule', '--once',
                              '--pull-interval', '60');
is $rc, 0, 'schedule --once as tt_worker' or diag $err;
is $out, "schedule: pulled\n", '... pulled';
is value_as($user{owner}, "SELECT kind || ' ' || status FROM tracktik_pulls"),
    'scheduled done', '... and recorded the pull as done';
cmp_ok value_as($user{owner}, "SELECT count(*) FROM tracktik_jobs"), '>', 0,
    '... its reports queued as jobs (through tracktik_pull_page)';
is value_as($user{owner}, "SELECT count(*) FROM tracktik_audit_runs")
   . ' ' . value_as($user{owner}, "SELECT count(*) FROM tracktik_pull_seen"),
    '1 0', '... its audit kept from the pages the pull kept, then dropped'
    or diag $err;
($rc, $out, $err) = worker_as('worker', undef, 'run', '--drain',
                              '--attachment-dir', "$fdir/attachments");
is $rc, 0, 'run --drain as tt_worker processes them' or diag $err;
is value_as($user{owner}, "SELECT count(*) FROM incidents_ledger "
            . "WHERE report_id = $report_id"), 1,
    '... and the report already recorded gets no second version';

# 4. the portal: login and the incident list, as tt_portal
my $origin = 'http://127.0.0.1:' . $ngx->port;
my ($hdrs);
($status, $hdrs, $content) = tt_post($ngx->url('/portal/api/login'),
    qq({"email":"$email","password":"$portal_password"}),
    { 'Content-Type' => 'application/json', Origin => $origin });
is $status, 200, 'portal login through tracktik_portal_postgres'
    or diag $content, $ngx->error_log;
my ($cookie) = ($hdrs->{'set-cookie'} // '') =~ /(tt_session=[^;]+)/;
ok $cookie, 'a session cookie';
($status, undef, $content) = tt_get($ngx->url('/portal/api/incidents'),
                                    { Cookie => $cookie // '' });
is $status, 200, 'incident list' or diag $content;
like $content // '', qr/"id"\s*:\s*$report_id\b/, 'shows the report';
like $content // '', qr/"photos"\s*:\s*1\b/, 'with its photo';
cmp_ok value_as($user{owner}, "SELECT count(*) FROM pg_stat_activity "
                . "WHERE application_name = 'ngx_http_tracktik' "
                . "AND usename = '$user{portal}'"), '>=', 1,
    'the portal pool is connected as tt_portal';

# without `env PGPASSFILE` nginx's workers have no password: 503, and the
# error log says why
{
    my $bare = TrackTikTest::Nginx->start(
        http => qq{    tracktik_postgres "@{[ dsn($user{ingest}) ]}" pool=1;\n},
        server => <<"SERVER",
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $fdir/webhook.secret;
        }
SERVER
    );
    my $other = TTWorker::json_encode({ %$report, id => $report_id + 1 });
    ($status) = tt_post($bare->url('/webhooks/tracktik'), $other,
        { 'Content-Type' => 'application/json',
          'TrackTik-Subscription-Secret' =>
              tt_hmac_hex('sha512', $hook_secret, $other) });
    is $status, 503, 'nginx without the passfile: 503';
    like $bare->error_log,
        qr/could not connect to PostgreSQL: .*(password authentication failed|no password supplied)/,
        'and the error log names the refused login';
    $bare->stop;
}

# what each role must not do: role, SQL, PostgreSQL's refusal, what
for my $r (
    [ ingest => 'SELECT count(*) FROM incidents_ledger',
      qr/permission denied for table incidents_ledger/,
      'cannot read the ledger' ],
    [ ingest => 'SELECT payload FROM tracktik_jobs',
      qr/permission denied for table tracktik_jobs/,
      'cannot read the queue back (only the columns RETURNING needs)' ],
    [ ingest => 'SELECT client_secret FROM tracktik_oauth',
      qr/permission denied for table tracktik_oauth/,
      'cannot read the OAuth secrets' ],
    [ portal => 'SELECT client_secret FROM tracktik_oauth',
      qr/permission denied for table tracktik_oauth/,
      'cannot read the OAuth secrets' ],
    [ portal => 'SELECT access_token FROM tracktik_oauth',
      qr/permission denied for table tracktik_oauth/,
      'cannot read the OAuth tokens' ],
    [ portal => "INSERT INTO incidents_ledger (event_id, report_id, "
      . "version, occurred_at, time_zone, raw, raw_sha256) VALUES "
      . "('x', 1, 1, now(), 'UTC', '{}', 'x')",
      qr/permission denied for table incidents_ledger/,
      'cannot insert into the ledger' ],
    [ portal => 'SELECT count(*) FROM incidents_ledger',
      qr/permission denied for table incidents_ledger/,
      'cannot read the ledger around the portal functions' ],
    [ portal => 'SELECT password_hash FROM portal_users',
      qr/permission denied for table portal_users/,
      'cannot read password hashes' ],
    [ portal => 'CREATE TEMP TABLE portal_sessions (id text)',
      qr/permission denied to create temporary tables/,
      'cannot create a temporary table (no TEMP on the database)' ],
    [ portal => "SELECT portal_session_user('x')",
      qr/permission denied for function portal_session_user/,
      'may call only the entry points' ],
    [ portal => "SELECT tracktik_record_batch('[]')",
      qr/permission denied for function tracktik_record_batch/,
      "cannot call the worker's functions" ],
    [ ingest => "SELECT * FROM portal_api_session('x')",
      qr/permission denied for function portal_api_session/,
      "cannot call the portal's functions" ],
    [ worker => "UPDATE incidents_ledger SET status = 'X'",
      qr/permission denied for table incidents_ledger/,
      'cannot update the ledger' ],
    [ worker => "UPDATE billing_lines SET state = 'posted'",
      qr/permission denied for table billing_lines/,
      'cannot post billing lines (the billing role does)' ],
    [ worker => "INSERT INTO tracktik_jobs (dedupe_key, payload) "
      . "VALUES ('w', '{}')",
      qr/permission denied for table tracktik_jobs/,
      'cannot queue jobs' ],
    [ worker => 'SELECT count(*) FROM tracktik_dead_letters',
      qr/permission denied for table tracktik_dead_letters/,
      'cannot read the dead letters' ],
    [ billing => 'SELECT payload FROM tracktik_jobs',
      qr/permission denied for table tracktik_jobs/,
      'cannot read the queue' ],
    [ billing => 'UPDATE billing_lines SET quantity = 0',
      qr/permission denied for table billing_lines/,
      'can update the posting columns only' ],
) {
    refused($user{ $r->[0] }, @$r[1 .. 3]);
}

# a second migrate re-creates every function (CREATE OR REPLACE resets
# SECURITY DEFINER and SET): the entry points must come back as they were
($rc, $out, $err) = worker_as('owner', undef, 'migrate', '--sql-dir',
                              "$repo/sql");
is $rc, 0, 'migrate again' or diag $err;
like value_as($user{owner}, "SELECT count(*) FILTER (WHERE NOT prosecdef "
            . "OR NOT 'search_path=public, pg_temp' = ANY (proconfig)) "
            . "|| ' of ' || count(*) FROM pg_proc WHERE proname LIKE "
            . "'portal\\_api\\_%' OR proname IN ('portal_login_hash', "
            . "'portal_login_open', 'portal_logout')"), qr/^0 of (1[1-9]|[2-9]\d)$/,
    'every entry point (11 or more) still runs as the owner, search_path fixed';
is value_as($user{portal}, "SELECT status FROM portal_api_session('x')"),
    401, 'tt_portal calls an entry point (it runs as the owner)';

for my $r (qw(ingest portal worker billing)) {
    refused($user{$r}, 'DROP TRIGGER incidents_ledger_no_update_delete '
            . 'ON incidents_ledger', qr/must be owner of (relation|table)/,
            'cannot drop the ledger trigger');
    refused($user{$r}, 'ALTER TABLE incidents_ledger DISABLE TRIGGER ALL',
            qr/must be owner of (relation|table)/,
            'cannot disable the ledger triggers');
    refused($user{$r}, 'ALTER TABLE billing_lines DISABLE TRIGGER '
            . 'billing_lines_guard', qr/must be owner of (relation|table)/,
            'cannot disable the billing lines guard');
    refused($user{$r}, 'SET session_replication_role = replica',
            qr/permission denied to set parameter/,
            'cannot skip triggers as a replica');
}

like value_as($user{owner}, "SELECT count(*) FILTER (WHERE tgenabled <> 'D')"
            . " || ' of ' || count(*) FROM pg_trigger "
            . "WHERE tgrelid = 'incidents_ledger'::regclass "
            . "AND NOT tgisinternal"), qr/^([4-9]|\d\d+) of \1$/,
    'the ledger keeps its triggers (four or more), all enabled';

$ngx->stop;
$sim->stop;
stop_cluster();
ok !$running, 'cluster stopped';

done_testing;
