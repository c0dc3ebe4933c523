# The tracktik_metrics location: Prometheus' text format, read by a strict
# parser (t/helper/TrackTikProm.pm).  Its counters live in shared memory:
# deliveries answered by two nginx workers add up to what was sent, and a
# reload keeps them.  Its gauges are the database's real rows.  Without
# PostgreSQL it still answers, with the counters and tracktik_up 0.  And
# nginx's access module guards it like any other location.

use strict;
use warnings;

use lib 't/helper';
use lib 't/worker/lib';
use File::Temp ();
use IO::Socket::INET;
use IPC::Run ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikProm;
use TrackTikTest;
use TTWorker;

my $secret = "metrics-test-secret-$$";
my $tmp = File::Temp->newdir('tt-metrics-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/webhook.secret';
tt_write_file($secret_file, "$secret\n");
my $session_file = $tmp->dirname . '/session.secret';
tt_write_file($session_file, "session-secret-$$-0123456789abcdef\n");

my $run = time() =~ s/\.//r . $$;
my $seq = 0;

# a unique report entity tagged with this run, and its signed headers
sub delivery {
    $seq++;
    my $body = tt_sample_report(id => $$ * 100000 + $seq);
    $body =~ s/^\{/{"testRun":"$run","seq":"$$.$seq",/;
    return ($body, signed($body));
}

sub signed {
    my ($body) = @_;
    return { 'Content-Type' => 'application/json',
             'TrackTik-Subscription-Secret' =>
                 tt_hmac_hex('sha512', $secret, $body) };
}

my %config = (
    workers => 2,
    master => 1,
    http => <<'HTTP',
    tracktik_postgres "$TRACKTIK_DSN" pool=2 portal_pool=1;
    log_format tt_pid '$pid $status';
HTTP
    server => <<"SERVER");
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
            access_log logs/pids.log tt_pid;
        }

        location = /metrics {
            tracktik_metrics;
            allow 127.0.0.1;
            deny all;
        }

        location = /metrics-elsewhere {
            tracktik_metrics;
            allow 10.0.0.0/8;
            deny all;
        }

        location /portal/api/ {
            tracktik_session_secret_file $session_file;
            tracktik_portal_api;
        }
SERVER

my $ngx = TrackTikTest::Nginx->start(%config);

sub scrape {
    my ($n) = @_;
    my ($status, $headers, $body) = tt_get(($n // $ngx)->url('/metrics'));
    is $status, 200, 'the scrape answers 200' or diag $body;
    my $m = eval { TrackTikProm::parse($body) };
    ok $m, 'the scrape is valid Prometheus text' or diag "$@\n$body";
    return ($m || {}, $headers, $body);
}

sub v { TrackTikProm::value(@_) // 0 }

# TT_VERSION and TT_SCHEMA_VERSION, as src/common/tt_version.h says
sub versions {
    open my $fh, '<', tt_repo() . '/src/common/tt_version.h' or die $!;
    local $/;
    my $h = <$fh>;
    return ($h =~ /#define TT_VERSION\s+"([^"]+)"/,
            $h =~ /#define TT_SCHEMA_VERSION\s+(\d+)/);
}

sub served_by {
    open my $fh, '<', $ngx->prefix . '/logs/pids.log' or return ();
    my %pids;
    while (<$fh>) { $pids{$1}++ if /^(\d+) / }
    return %pids;
}

# each list of deliveries posted on a process of its own, all at once
sub post_parallel {
    my (@lists) = @_;
    my @kids;
    for my $list (@lists) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $bad = 0;
            for my $d (@$list) {
                my ($status) = tt_post($ngx->url('/webhooks/tracktik'),
                                       $d->[0], $d->[1]);
                $bad++ unless $status == $d->[2];
            }
            POSIX::_exit($bad ? 1 : 0);
        }
        push @kids, $pid;
    }
    my $failed = 0;
    for (@kids) { waitpid $_, 0; $failed++ if $? }
    return $failed;
}

subtest 'the format, the build and the version' => sub {
    my ($m, $headers, $body) = scrape();
    like $headers->{'content-type'}, qr{^text/plain; version=0\.0\.4},
        'Content-Type: text/plain; version=0.0.4';
    my ($version, $schema) = versions();
    is v($m, 'tracktik_build_info', version => $version,
         schema_version => $schema), 1,
        "tracktik_build_info{version=\"$version\"} 1";
    is v($m, 'tracktik_up'), 1, 'tracktik_up 1 with PostgreSQL up';
    is v($m, 'tracktik_schema_version'), $schema,
        'the schema version the database reports';
    is v($m, 'tracktik_schema_version_needed'), $schema,
        'the schema version the build needs';
    is $m->{tracktik_webhook_ack_seconds}{type}, 'histogram',
        'the acknowledgement latency is a histogram';
    is $m->{tracktik_jobs}{type}, 'gauge', 'the job counts are gauges';
    ok defined TrackTikProm::value($m, 'tracktik_portal_requests_total',
                                   route => 'incidents', status => '2xx'),
        'portal requests are counted by route and status class';
};

subtest 'deliveries across two workers add up' => sub {
    my ($before) = scrape();

    # rounds of 4 x 5 deliveries at once until both workers served some
    my (@sent, $rounds);
    for $rounds (1 .. 10) {
        my @lists = map { [ map { [delivery(), 202] } 1 .. 5 ] } 1 .. 4;
        is post_parallel(@lists), 0, "round $rounds: every delivery 202";
        push @sent, map { @$_ } @lists;
        last if keys %{ { served_by() } } >= 2;
    }
    my %pids = served_by();
    is scalar(keys %pids), 2, 'both workers answered deliveries'
        or diag explain \%pids;
    my $queued = @sent;

    # redeliveries, a wrong signature, a body that is not JSON, a wrong
    # Content-Type
    is post_parallel([ map { [$_->[0], $_->[1], 200] } @sent[0 .. 4] ]), 0,
        'five redeliveries: 200';
    my ($b) = delivery();
    is post_parallel([ map { [$b, signed("$b "), 401] } 1 .. 3 ]), 0,
        'three wrong signatures: 401';
    is post_parallel([ ['{"not json', signed('{"not json'), 400] ]), 0,
        'a signed body that is not JSON: 400';
    is post_parallel([ map { [$b, { 'Content-Type' => 'text/plain' }, 415] }
                           1 .. 2 ]), 0, 'two text/plain bodies: 415';

    my ($after) = scrape();
    my %want = (queued => $queued, duplicate => 5, bad_signature => 3,
                bad_request => 3, backpressure => 0, unavailable => 0,
                dead_letter => 0);
    for my $result (sort keys %want) {
        is v($after, 'tracktik_webhook_deliveries_total', result => $result)
           - v($before, 'tracktik_webhook_deliveries_total',
               result => $result),
           $want{$result}, "deliveries{result=\"$result\"} +$want{$result}";
    }

    my $acks = $queued + 5;
    is v($after, 'tracktik_webhook_ack_seconds_count')
       - v($before, 'tracktik_webhook_ack_seconds_count'), $acks,
        "$acks acknowledgements timed";
    my $h = TrackTikProm::histogram($after, 'tracktik_webhook_ack_seconds');
    is $h->{buckets}[-1][1], $h->{count}, 'ack +Inf bucket == _count';
    ok $h->{sum} >= 0 && $h->{sum} < 30 * $h->{count},
        "ack _sum is a plausible number of seconds ($h->{sum})";

    # each acknowledged delivery was a row of exactly one group commit
    is v($after, 'tracktik_webhook_group_commit_size_sum')
       - v($before, 'tracktik_webhook_group_commit_size_sum'), $acks,
        "group commits held $acks rows in all";
    my $groups = v($after, 'tracktik_webhook_group_commit_size_count')
                 - v($before, 'tracktik_webhook_group_commit_size_count');
    ok $groups >= 1 && $groups <= $acks,
        "in between 1 and $acks groups ($groups)";
    my $g = TrackTikProm::histogram($after,
                                    'tracktik_webhook_group_commit_size');
    is $g->{buckets}[-1][1], $g->{count}, 'group +Inf bucket == _count';

    my $conns = v($after, 'tracktik_pg_connections', pool => 'webhook');
    ok $conns >= 1 && $conns <= 4,
        "1 to 4 webhook connections open in 2 workers of pool=2 ($conns)";
    ok v($after, 'tracktik_pg_queries_total', pool => 'webhook')
       - v($before, 'tracktik_pg_queries_total', pool => 'webhook')
       >= $groups, 'a statement per group at least';
    ok v($after, 'tracktik_pg_connects_total', pool => 'webhook',
         result => 'ok') >= 1, 'connections were opened';
};

subtest 'the gauges are the rows in the database' => sub {
    my ($before) = scrape();
    tt_sql("INSERT INTO tracktik_jobs (dedupe_key, state, payload,"
           . " received_at) SELECT 'metrics-$run-' || i, 'dead',"
           . " '{}', now() - interval '1 hour' FROM generate_series(1, 3) i");
    tt_sql("INSERT INTO tracktik_jobs (dedupe_key, payload, received_at)"
           . " VALUES ('metrics-$run-old', '{}',"
           . " now() - interval '2 days')");
    # other suites may add rows meanwhile: a count must lie between the
    # table's just before and just after the scrape
    my %sql = (
        queued => "SELECT count(*) FROM tracktik_jobs WHERE state = 'queued'",
        ledger => 'SELECT count(*) FROM incidents_ledger',
        failed => "SELECT count(*) FROM billing_lines WHERE state = 'failed'",
    );
    my %low = map { $_ => 0 + tt_sql($sql{$_}) } keys %sql;
    my ($after) = scrape();
    my %high = map { $_ => 0 + tt_sql($sql{$_}) } keys %sql;

    is v($after, 'tracktik_jobs', state => 'dead')
       - v($before, 'tracktik_jobs', state => 'dead'), 3,
        'three more dead jobs';
    ok v($after, 'tracktik_jobs_oldest_queued_seconds') >= 2 * 86400,
        'the oldest queued job is two days old';
    for ([queued => 'tracktik_jobs', state => 'queued'],
         [ledger => 'tracktik_ledger_rows'],
         [failed => 'tracktik_billing_lines', state => 'failed']) {
        my ($k, $name, @labels) = @$_;
        my $got = v($after, $name, @labels);
        ok $got >= $low{$k} && $got <= $high{$k},
            "$name @labels is the table's count ($got)";
    }

    # a tenant whose refresh token was refused (invalid_grant)
    tt_sql("INSERT INTO tracktik_oauth (base_url, client_id, client_secret,"
           . " access_token, access_expires_at, needs_login_since)"
           . " VALUES ('https://metrics-$run.example', 'c', 's', 't',"
           . " now() + interval '1 hour', now() - interval '10 minutes')");
    my ($m) = scrape();
    is v($m, 'tracktik_oauth_session_ok',
         base_url => "https://metrics-$run.example"), 0,
        'the broken OAuth session reads 0';
    ok v($m, 'tracktik_oauth_needs_login_seconds',
         base_url => "https://metrics-$run.example") >= 600,
        '... and has needed a login for ten minutes';
    my $exp = v($m, 'tracktik_oauth_access_expires_seconds',
                base_url => "https://metrics-$run.example");
    ok $exp > 3500 && $exp <= 3600, "its token expires in an hour ($exp)";
    tt_sql("DELETE FROM tracktik_oauth"
           . " WHERE base_url = 'https://metrics-$run.example'");

    tt_sql("DELETE FROM tracktik_jobs WHERE dedupe_key LIKE 'metrics-$run-%'");
    my ($end) = scrape();
    is v($end, 'tracktik_jobs', state => 'dead'),
       v($before, 'tracktik_jobs', state => 'dead'),
        'the dead count is back once they are gone';
};

# what tracktik_metrics_gauges() answers in $db, "name{labels}" => value
sub gauges_in {
    my ($db) = @_;
    return map { ("$_->[0]\{$_->[1]}" => $_->[2]) }
           $db->rows('SELECT name, labels, value'
                     . ' FROM tracktik_metrics_gauges()');
}

subtest 'tables of later migrations: read when there, left out when not' => sub {
    # a database of its own: tables come and go here
    my $db = TTWorker->new('metrics');
    $db->rows('DROP TABLE IF EXISTS tracktik_pull_windows,'
              . ' tracktik_pull_lease, tracktik_pulls, notify_attempts,'
              . ' notifications CASCADE');
    my %g = gauges_in($db);
    ok !grep(/^tracktik_(?:pull|notifications)_/, keys %g),
        'no pull or notification gauge without their tables';
    ok exists $g{'tracktik_jobs{state="dead"}'}, '... the others are there';

    $db->rows(<<'SQL');
CREATE TABLE tracktik_pulls (kind text, status text, finished_at timestamptz);
INSERT INTO tracktik_pulls VALUES
    ('scheduled', 'done', '2026-01-02 03:04:05+00'),
    ('scheduled', 'failed', '2026-01-03 00:00:00+00'),
    ('scheduled', 'running', NULL);
CREATE TABLE notifications (state text, created_at timestamptz);
INSERT INTO notifications VALUES ('pending', now() - interval '1 hour'),
    ('sending', now()), ('sent', now()), ('dead', now());
SQL
    %g = gauges_in($db);
    is $g{'tracktik_pull_last_success_timestamp_seconds{kind="scheduled"}'},
       1767323045, 'the newest pull that finished well';
    is $g{'tracktik_pull_last_success_timestamp_seconds{kind="manual"}'}, 0,
       '0 for a kind never run';
    is $g{'tracktik_notifications_backlog{}'}, 2,
       'the backlog: pending and sending';
    ok $g{'tracktik_notifications_oldest_pending_seconds{}'} >= 3600,
       'the oldest waits for an hour';
    is $g{'tracktik_notifications_dead{}'}, 1, 'one dead notification';

    # a shape the function does not know: that gauge is left out, the
    # scrape stands
    $db->rows('ALTER TABLE notifications RENAME COLUMN state TO status');
    %g = gauges_in($db);
    ok !exists $g{'tracktik_notifications_backlog{}'},
        'notifications of another shape: left out';
    ok exists $g{'tracktik_pull_last_success_timestamp_seconds{kind="manual"}'},
        '... and the rest still answered';
    $db->cleanup;
};

subtest 'a delivery jsonb refuses counts as a dead letter' => sub {
    my ($before) = scrape();
    my $body = qq({"testRun":"$run","seq":"$$.nul","text":"a\\u0000b"});
    my ($status) = tt_post($ngx->url('/webhooks/tracktik'), $body,
                           signed($body));
    is $status, 202, 'stored as a dead letter: 202';
    my ($after) = scrape();
    is v($after, 'tracktik_webhook_deliveries_total', result => 'dead_letter')
       - v($before, 'tracktik_webhook_deliveries_total',
           result => 'dead_letter'), 1, 'deliveries{result="dead_letter"} +1';
    is v($after, 'tracktik_dead_letters_waiting')
       - v($before, 'tracktik_dead_letters_waiting'), 1,
        'tracktik_dead_letters_waiting +1';
    tt_sql("DELETE FROM tracktik_dead_letters"
           . " WHERE body = convert_to('$body', 'UTF8')");
};

subtest 'portal requests and logins' => sub {
    my ($before) = scrape();
    my %json = ('Content-Type' => 'application/json',
                'Origin' => 'http://127.0.0.1:' . $ngx->port);
    tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");
    my ($status) = tt_post($ngx->url('/portal/api/login'),
                           qq({"email":"nobody.$run\@client.test",)
                           . qq("password":"wrong"}), \%json);
    is $status, 401, 'a wrong login: 401';
    ($status) = tt_get($ngx->url('/portal/api/me'));
    is $status, 401, 'no session: 401';
    ($status) = tt_get($ngx->url('/portal/api/nowhere'));
    is $status, 404, 'no such route: 404';
    tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

    my ($after) = scrape();
    is v($after, 'tracktik_portal_logins_total', result => 'failure')
       - v($before, 'tracktik_portal_logins_total', result => 'failure'), 1,
        'logins{result="failure"} +1';
    is v($after, 'tracktik_portal_requests_total', route => 'login',
         status => '4xx')
       - v($before, 'tracktik_portal_requests_total', route => 'login',
           status => '4xx'), 1, 'requests{route="login",status="4xx"} +1';
    is v($after, 'tracktik_portal_requests_total', route => 'me',
         status => '4xx')
       - v($before, 'tracktik_portal_requests_total', route => 'me',
           status => '4xx'), 1, 'requests{route="me",status="4xx"} +1';
    is v($after, 'tracktik_portal_requests_total', route => 'unknown',
         status => '4xx')
       - v($before, 'tracktik_portal_requests_total', route => 'unknown',
           status => '4xx'), 1, 'requests{route="unknown",status="4xx"} +1';
};

subtest 'nginx access rules guard the location' => sub {
    my ($status) = tt_get($ngx->url('/metrics-elsewhere'));
    is $status, 403, 'allow 10.0.0.0/8; deny all: 403 from 127.0.0.1';
    ($status) = tt_post($ngx->url('/metrics'), 'x');
    is $status, 405, 'POST: 405';
};

subtest 'a reload keeps the counters' => sub {
    my ($before) = scrape();
    my $n = v($before, 'tracktik_webhook_deliveries_total',
              result => 'queued');
    ok $n > 0, "deliveries counted before the reload ($n)";
    $ngx->reload;
    my ($after) = scrape();
    is v($after, 'tracktik_webhook_deliveries_total', result => 'queued'), $n,
        'the same count from the new workers';
};

# an open transaction holding an EXCLUSIVE lock on the delivery table:
# the group commit waits behind it, as behind a stuck database
sub hold_lock {
    my ($in, $out, $err) = ("BEGIN;\nLOCK TABLE tracktik_deliveries "
                            . "IN EXCLUSIVE MODE;\nSELECT 'locked';\n", '', '');
    my $h = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', tt_dsn()],
                            \$in, \$out, \$err);
    my $t0 = time;
    while ($out !~ /locked/ && time - $t0 < 10) {
        $h->pump_nb;
        sleep 0.05;
    }
    die "could not take the lock: $err" unless $out =~ /locked/;
    return sub { $in .= "COMMIT;\n\\q\n"; $h->finish };
}

subtest 'backpressure: counted, and a warning in the log' => sub {
    my $busy = TrackTikTest::Nginx->start(
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=1 queue=1;},
        server => <<"SERVER");
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
        }
        location = /metrics { tracktik_metrics; }
SERVER
    my $release = hold_lock();

    # one group in flight behind the lock, one waiting: the rest refused
    my @kids;
    for my $i (1 .. 5) {
        my ($body, $headers) = delivery();
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($status) = tt_post($busy->url('/webhooks/tracktik'), $body,
                                   $headers);
            POSIX::_exit($status == 503 ? 3 : $status == 202 ? 2 : 1);
        }
        push @kids, $pid;
        sleep 0.2;
    }
    sleep 0.5;
    $release->();
    my %status;
    for (@kids) { waitpid $_, 0; $status{ $? >> 8 }++ }
    is $status{2}, 2, 'two deliveries 202 once the lock is gone';
    is $status{3}, 3, 'three refused with 503 meanwhile';

    my ($m) = scrape($busy);
    is v($m, 'tracktik_webhook_deliveries_total', result => 'backpressure'),
       3, 'deliveries{result="backpressure"} 3';
    is v($m, 'tracktik_webhook_deliveries_total', result => 'queued'), 2,
       'deliveries{result="queued"} 2';
    is TrackTikProm::value($m, 'tracktik_webhook_ack_seconds_bucket',
                           le => '0.1'), 0,
        'no acknowledgement within 100 ms: they waited for the lock';
    my $log = $busy->error_log;
    is scalar(() = $log =~ /\[warn\][^\n]*tracktik webhook: PostgreSQL queue is full/g),
       3, 'each refusal is a warning in the error log';
    unlike $log, qr/\[(?:info|error)\][^\n]*queue is full/,
        'at warn, not at info or error';
    $busy->stop;
};

subtest 'PostgreSQL out of reach: counters and tracktik_up 0' => sub {
    my $closed = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                       LocalPort => 0)
        or die "listen: $!";
    my $port = $closed->sockport;
    close $closed;    # nothing listens there now
    my $down = TrackTikTest::Nginx->start(
        http => qq{tracktik_postgres "host=127.0.0.1 port=$port }
              . qq{dbname=none connect_timeout=2";},
        server => <<"SERVER");
        location = /metrics { tracktik_metrics; }
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
        }
SERVER
    for (1 .. 3) {
        my ($status) = tt_post($down->url('/webhooks/tracktik'), delivery());
        is $status, 503, "delivery $_: 503";
    }
    my $t0 = time;
    my ($m, undef, $body) = scrape($down);
    ok time - $t0 < 10, 'answered without waiting long';
    is v($m, 'tracktik_up'), 0, 'tracktik_up 0';
    ok defined TrackTikProm::value($m, 'tracktik_webhook_deliveries_total',
                                   result => 'queued'),
        'the counters are there';
    ok !defined TrackTikProm::value($m, 'tracktik_jobs', state => 'dead'),
        'no gauge from the database';
    is v($m, 'tracktik_webhook_deliveries_total', result => 'unavailable'),
       3, 'deliveries{result="unavailable"} 3';
    ok v($m, 'tracktik_pg_connects_total', pool => 'webhook',
         result => 'failed') >= 1, 'failed connection attempts counted';
    like $down->error_log, qr/\[error\].*could not connect to PostgreSQL/,
        'the connection failure is logged at error';
    unlike $down->error_log, qr/\[(?:info|warn)\][^\n]*PostgreSQL/,
        'nothing about PostgreSQL below error';
    $down->stop;
};

tt_sql("DELETE FROM tracktik_jobs WHERE payload->>'testRun' = '$run'");
$ngx->stop;

done_testing;
