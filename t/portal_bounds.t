# The portal's bounds (invariant 11): the event stream sends at most 500
# incidents a message, resumes no further back than its window, caps the
# streams of a session across nginx workers, and shows resume points that
# are not ledger ids; a query nginx gave up on stops on the server
# (statement_timeout); stats refuses infinite and overlong ranges, and its
# daily roll-up answers exactly what the ledger does.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use IPC::Run ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikHostile qw(hostile_connect hostile_read hostile_rss
                       hostile_running hostile_until_none);
use TrackTikProm;
use TrackTikTest;

my $run = time() =~ s/\.//r . $$;
my $base = (time() % 100000000 * 100 + $$ % 100) * 10;
my $client = $base + 4;                 # the stream's client
my $other = $base + 5;                  # the roll-up's client
my $site = $client * 10 + 1;
my $password = "bounds test password $$";
my %email = map { $_ => "$_.$run\@bounds.test" } qw(amy ada ops kit);

my $tmp = File::Temp->newdir('tt-bounds-XXXXXX', TMPDIR => 1);
my $secret = "bounds-session-secret-$run-0123456789abcdef";
tt_write_file($tmp->dirname . '/session.secret', "$secret\n");

tt_sql("SELECT portal_user_add('$email{$_}', '$password', 'client', "
       . "$client, NULL)") for qw(amy ada);
tt_sql("SELECT portal_user_add('$email{ops}', '$password', 'operator', "
       . "NULL, NULL)");
tt_sql("SELECT portal_user_add('$email{kit}', '$password', 'client', "
       . "$other, ARRAY[" . ($other * 10 + 1) . "]::bigint[])");

sub token {
    my ($who) = @_;
    return tt_sql("SELECT next FROM ("
                  . tt_login_sql($email{$who}, $password, '127.0.0.7', 3600)
                  . ") l");
}

sub cookie { tt_session_cookie(token($_[0]), $secret) }

my %cookie = map { $_ => cookie($_) } keys %email;
my %token = map { $_ => token($_) } qw(amy kit ops);

sub insert_sql {
    my ($rows, $from) = @_;
    return "INSERT INTO incidents_ledger (event_id, report_id, version, "
         . "occurred_at, client_id, site_id, severity, category, "
         . "report_template, status, time_zone, raw, raw_sha256, "
         . "recorded_at) $rows";
}

# a visible incident recorded two days ago: outside the resume window
my $old = $client * 10000;
tt_sql(insert_sql("VALUES ('b:$old:1', $old, 1, now() - interval '2 days', "
       . "$client, $site, 'LOW', 'Patrol', 'Patrol Report', 'APPROVED', "
       . "'UTC', '{}', 'x', now() - interval '2 days')"));

# 1,501 visible incidents recorded now
tt_sql(insert_sql("SELECT 'b:' || ($old + g) || ':1', $old + g, 1, "
       . "now() - g * interval '1 second', $client, $site, 'LOW', 'Patrol', "
       . "'Patrol Report', 'APPROVED', 'UTC', '{}', 'x', now() "
       . "FROM generate_series(1, 1501) g"));

my $ngx = TrackTikTest::Nginx->start(
    workers => 2,
    http => <<"HTTP",
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=3
                      query_timeout=1s statement_timeout=2s;
HTTP
    server => <<"SERVER",
        tracktik_session_secret_file ${\ $tmp->dirname }/session.secret;
        tracktik_portal_events_interval 200ms;

        location /portal/api/ {
            tracktik_portal_api;
        }

        # streams that end soon
        location /short/portal/api/ {
            tracktik_portal_api;
            tracktik_portal_events_lifetime 2s;
        }
SERVER
);

sub connect_to {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Timeout => 10)
        or die "connect: $!";
    return $sock;
}

# an event stream on a connection of its own (HTTP/1.0: not chunked);
# small => 1: a small receive window, port => another nginx's
sub open_stream {
    my ($who, $last, %opt) = @_;
    my $port = $opt{port} // $ngx->port;
    my $s = $opt{small} ? hostile_connect($port) : connect_to($port);
    print $s "GET /portal/api/events HTTP/1.0\r\nHost: localhost\r\n"
           . "Cookie: $cookie{$who}\r\n"
           . (defined $last ? "Last-Event-ID: $last\r\n" : '') . "\r\n";
    return { sock => $s, buf => '' };
}

# reads until $done->(\@messages) holds or $secs pass; a message is
# { id => ..., items => [...] }; returns (status, headers, messages)
sub read_stream {
    my ($st, $secs, $done) = @_;
    my $sel = IO::Select->new($st->{sock});
    my $until = time() + $secs;
    $st->{messages} //= [];
    while (time() < $until) {
        last if $st->{head} && $done->($st->{messages});
        next unless $sel->can_read(0.2);
        my $n = sysread($st->{sock}, my $chunk, 65536);
        last unless $n;
        $st->{buf} .= $chunk;
        if (!$st->{head} && $st->{buf} =~ s/\A(.*?)\r\n\r\n//s) {
            $st->{head} = $1;
        }
        next unless $st->{head};
        while ($st->{buf} =~ s/\A(.*?)\n\n//s) {
            my $event = $1;
            next unless $event =~ /^event: incidents$/m;
            my ($id) = $event =~ /^id: (.*)$/m;
            my ($data) = $event =~ /^data: (.*)$/m;
            push @{ $st->{messages} },
                 { id => $id, items => JSON::PP::decode_json($data) };
        }
    }
    my ($status) = ($st->{head} // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $st->{head} // '', $st->{messages});
}

sub items_of { map { @{ $_->{items} } } @{ $_[0] } }

sub ours { grep { $_->{id} > $old && $_->{id} <= $old + 1501 } @_ }

my @all = map { $old + $_ } 1 .. 1501;

subtest 'resumed from 0: every incident once, at most 500 a message' => sub {
    my $st = open_stream('amy', 0);
    my ($status, $head, $msgs) = read_stream($st, 30,
        sub { ours(items_of($_[0])) >= 1501 });
    close $st->{sock};
    is $status, 200, 'the stream opens';
    my @items = ours(items_of($msgs));
    is_deeply [sort { $a <=> $b } map { $_->{id} } @items], \@all,
        'the 1,501 incidents arrive, each once';
    my ($max) = sort { $b <=> $a } map { scalar @{ $_->{items} } } @$msgs;
    cmp_ok $max, '<=', 500, "no message holds more than 500 ($max)";
    cmp_ok scalar(@$msgs), '>=', 4, 'so they take four messages or more';
    ok !(grep { $_->{id} == $old } items_of($msgs)),
        'the incident recorded two days ago is outside the window';
    ok !(grep { exists $_->{ledger_id} } items_of($msgs)),
        'items carry no ledger ids';

    # the ids the client sees are not ledger ids
    my %ledger = map { $_ => 1 } split /\n/,
        tt_sql("SELECT id FROM incidents_ledger WHERE client_id = $client "
               . "UNION SELECT max(id) FROM incidents_ledger");
    my @ids = map { $_->{id} } @$msgs;
    ok @ids && !(grep { !/^\d{1,18}$/ } @ids), 'ids are digits (at most 18)';
    ok !(grep { $ledger{$_} } @ids), 'no id is a ledger row id';
    $main::last_id = $ids[-1];

    # another user's stream shows other ids for the same rows
    my $st2 = open_stream('ada', 0);
    my (undef, undef, $msgs2) = read_stream($st2, 30,
        sub { ours(items_of($_[0])) >= 1501 });
    close $st2->{sock};
    is scalar(ours(items_of($msgs2))), 1501, 'another user gets them too';
    my %mine = map { $_ => 1 } @ids;
    ok !(grep { $mine{$_->{id}} } @$msgs2),
        '... under ids of its own (they mean nothing to someone else)';
};

subtest 'Last-Event-ID resumes where the client was' => sub {
    my $st = open_stream('amy', $main::last_id);
    my ($status, undef, $msgs) = read_stream($st, 1.5, sub { 0 });
    is $status, 200, 'the stream opens';
    is scalar(ours(items_of($msgs))), 0, 'nothing is sent again';

    my $new = $old + 5000;
    tt_sql(insert_sql("VALUES ('b:$new:1', $new, 1, now(), $client, $site, "
           . "'HIGH', 'Patrol', 'Patrol Report', 'APPROVED', 'UTC', '{}', "
           . "'x', now())"));
    (undef, undef, $msgs) = read_stream($st, 10,
        sub { grep { $_->{id} == $new } items_of($_[0]) });
    close $st->{sock};
    is_deeply [map { $_->{id} } items_of($msgs)], [$new],
        'a new incident arrives, alone';
};

subtest 'a session has at most four streams, across workers' => sub {
    # places left by the streams above lapse within a minute
    sleep 0.5;
    tt_sql("DELETE FROM portal_event_streams");
    my @open = map { open_stream('amy') } 1 .. 4;
    for my $st (@open) {
        my ($status) = read_stream($st, 5, sub { 1 });
        is $status, 200, 'a stream opens';
    }
    my $fifth = open_stream('amy');
    my ($status, $head) = read_stream($fifth, 5, sub { 1 });
    # a 429 is all there is (HTTP/1.0: nginx closes); a stream is not read
    my $body = $status == 429
        ? do { local $/; my $s = $fifth->{sock}; $fifth->{buf} . (<$s> // '') }
        : '';
    close $fifth->{sock};
    is $status, 429, 'the fifth gets 429';
    like $head, qr/^Retry-After: \d+\r?$/mi, '... with Retry-After';
    like $body, qr/too many event streams/, '... saying why';

    my $st = open_stream('ada');
    ($status) = read_stream($st, 5, sub { 1 });
    is $status, 200, 'another session of the same client is not affected';
    close $_->{sock} for @open, $st;
    tt_sql("DELETE FROM portal_event_streams");
};

subtest 'a query nginx gave up on stops on the server' => sub {
    my $url = $ngx->url('/portal/api/stats');
    my $holder = IPC::Run::start(['psql', '-X', '-q', '-d', tt_dsn(), '-c',
        "BEGIN; LOCK TABLE portal_users IN ACCESS EXCLUSIVE MODE; "
        . "SELECT pg_sleep(8); COMMIT;"], \undef, \my $out, \my $err);
    sleep 0.5;
    my $t0 = time();
    my ($status) = tt_get($url, { Cookie => $cookie{amy} });
    is $status, 503, 'nginx gives up after query_timeout (1 s)';
    cmp_ok time() - $t0, '<', 3, '... in time';
    my $active = sub {
        tt_sql("SELECT count(*) FROM pg_stat_activity "
               . "WHERE application_name = 'ngx_http_tracktik' "
               . "AND state = 'active' AND query LIKE '%portal_api_stats%'");
    };
    is $active->(), 1, 'PostgreSQL still runs it (waiting for the lock)';
    sleep 2.5;
    is $active->(), 0, 'statement_timeout (2 s) has stopped it there too';
    $holder->finish;
};

# An nginx of its own for the next two subtests: its streams poll every
# millisecond, its counters count theirs alone, and its query deadline is
# far (a poll of 500 long incidents on a busy machine may take a second,
# and a poll that times out ends the stream).
my $fast = TrackTikTest::Nginx->start(
    http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2 }
          . qq{query_timeout=20s;},
    server => <<"SERVER",
        tracktik_session_secret_file ${\ $tmp->dirname }/session.secret;
        tracktik_portal_events_interval 1ms;

        location /portal/api/ {
            tracktik_portal_api;
        }

        location = /metrics {
            tracktik_metrics;
        }
SERVER
);

# the event polls of $fast's streams so far: (polled, skipped)
sub polls {
    my (undef, undef, $text) = tt_get($fast->url('/metrics'));
    my $m = TrackTikProm::parse($text);
    return map { TrackTikProm::value($m, 'tracktik_portal_event_polls_total',
                                     result => $_) } qw(polled skipped);
}

# $n incidents of the stream's client recorded now, from id $first + 1,
# each with a category long enough that they make megabytes of messages
sub recent_incidents {
    my ($first, $n) = @_;
    tt_sql(insert_sql("SELECT 'b:' || ($first + g) || ':1', $first + g, 1, "
           . "now(), $client, $site, 'LOW', 'Patrol ' || repeat('p', 400), "
           . "'Patrol Report', 'APPROVED', 'UTC', '{}', 'x', now() "
           . "FROM generate_series(1, $n) g"));
}

subtest 'a client that stops reading is not polled meanwhile' => sub {
    tt_sql("DELETE FROM portal_event_streams");
    # a small window, and a location polling every millisecond
    my $st = open_stream('amy', undef, small => 1, port => $fast->port);
    my ($status) = read_stream($st, 5, sub { 1 });
    is $status, 200, 'the stream opens';

    # about 10 MB of messages: more than the sockets on both sides hold
    my ($first, $n) = ($old + 100_000, 20_000);
    recent_incidents($first, $n);

    # the client reads nothing: once nginx holds output it cannot send,
    # the poll timer skips
    my ($p0, $s0) = polls();
    my $deadline = time + 20;
    while (time < $deadline) {
        sleep 0.2;
        last if (polls())[1] > $s0;
    }
    my ($p1, $s1) = polls();
    sleep 2;
    my ($p2, $s2) = polls();
    note "while stalled, over 2 s: ${\ ($p2 - $p1) } polls made, "
         . "${\ ($s2 - $s1) } skipped";
    cmp_ok $s2 - $s1, '>=', 20, 'the timer fires and skips its polls';
    cmp_ok $p2 - $p1, '<=', 2, '... and PostgreSQL is not asked meanwhile';

    # nothing is lost: read on, every incident arrives once
    my (undef, undef, $msgs) = read_stream($st, 60, sub {
        grep({ $_->{id} > $first } items_of($_[0])) >= $n });
    close $st->{sock};
    my @got = grep { $_->{id} > $first } items_of($msgs);
    is scalar(@got), $n, "the client reads all $n incidents afterwards";
    my %seen = map { $_->{id} => 1 } @got;
    is scalar(keys %seen), $n, '... each once';
};

subtest 'memory stays flat over thousands of polls of one stream' => sub {
    # AddressSanitizer keeps freed memory in quarantine: the RSS of a
    # sanitizer build grows whatever the module does (make test checks it)
    plan skip_all => 'RSS means nothing under AddressSanitizer'
        if ($ENV{ASAN_OPTIONS} // '') ne '';
    tt_sql("DELETE FROM portal_event_streams");
    my $st = open_stream('ada', undef, port => $fast->port);
    my ($status) = read_stream($st, 5, sub { 1 });
    is $status, 200, 'the stream opens (polled every millisecond)';

    my @pids = ($fast->pid);            # one process: no master
    my $rss = sub {
        my $kb = 0;
        $kb += hostile_rss($_) // 0 for @pids;
        return $kb;
    };
    # waits until the stream has polled $want more times (or 2 minutes)
    my $polled = sub {
        my ($want) = @_;
        my ($p0) = polls();
        my $deadline = time + 120;
        my $p = $p0;
        while ($p - $p0 < $want && time < $deadline) {
            sleep 0.5;
            ($p) = polls();
        }
        return $p - $p0;
    };
    $polled->(500);                    # the allocator's steady state
    my $before = $rss->();
    my $made = $polled->(4000);
    my $after = $rss->();
    close $st->{sock};
    cmp_ok $made, '>=', 4000, "the stream polled $made times";
    # each poll's answer has a 4 kB pool: kept, 4,000 polls would add
    # 16 MB or more
    cmp_ok $after - $before, '<', 4096,
        "nginx's RSS grew by ${\ ($after - $before) } kB "
        . "($before kB before)";
};

$fast->stop;
my @fast_bad = grep { /\[alert\]|\[emerg\]|exited on signal/ } split /\n/,
                   $fast->error_log;
ok !@fast_bad, "no alert in the fast streams' nginx"
    or diag join "\n", @fast_bad;

# the events of an HTTP/1.1 answer's chunked body: (ended, messages);
# ended: the body ended with its last chunk
sub chunked_events {
    my ($text) = @_;
    my ($body) = $text =~ /\r\n\r\n(.*)\z/s;
    my ($plain, $ended) = ('', 0);
    while (defined $body && $body =~ s/\A([0-9a-fA-F]+)\r\n//) {
        my $len = hex $1;
        if ($len == 0) {
            $ended = $body eq "\r\n";
            last;
        }
        $plain .= substr($body, 0, $len, '');
        $body =~ s/\A\r\n//;
    }
    my @msgs;
    for my $event (split /\n\n/, $plain) {
        next unless $event =~ /^event: incidents$/m;
        my ($id) = $event =~ /^id: (.*)$/m;
        my ($data) = $event =~ /^data: (.*)$/m;
        push @msgs, { id => $id, items => JSON::PP::decode_json($data) };
    }
    return ($ended, \@msgs);
}

subtest 'a stream ends at its lifetime, and the client resumes' => sub {
    tt_sql("DELETE FROM portal_event_streams");
    my $s = connect_to($ngx->port);
    my $t0 = time;
    print $s "GET /short/portal/api/events HTTP/1.1\r\nHost: localhost\r\n"
           . "Connection: close\r\nCookie: $cookie{amy}\r\n\r\n";
    my $text = hostile_read($s, 1_000_000, 5, qr/retry: 2000\n/);
    my $one = $old + 200_001;
    recent_incidents($one - 1, 1);
    # the stream's lifetime is 2 s: read until nginx closes
    $text .= hostile_read($s, 10_000_000, 10);
    my $took = time - $t0;
    close $s;
    like $text, qr{^HTTP/1\.1 200}, 'the stream opened';
    my ($ended, $msgs) = chunked_events($text);
    ok $ended, 'it ended with the last chunk (a clean end, not a cut)'
        or diag substr($text, -200);
    cmp_ok $took, '>=', 1.8, sprintf('... after its lifetime (%.1f s)', $took);
    cmp_ok $took, '<', 5, '... and not much later';
    is_deeply [map { $_->{id} } items_of($msgs)], [$one],
        'the incident recorded meanwhile came on it';

    # what is recorded after the end comes on the reconnection, alone
    my $two = $one + 1;
    recent_incidents($two - 1, 1);
    my $st = open_stream('amy', $msgs->[-1]{id});
    my ($status, undef, $again) = read_stream($st, 10,
        sub { grep { $_->{id} == $two } items_of($_[0]) });
    close $st->{sock};
    is $status, 200, 'the client reconnects with Last-Event-ID';
    is_deeply [map { $_->{id} } items_of($again)], [$two],
        '... and gets what it missed, nothing twice';
};

subtest "statement_timeout defaults to the portal pool's query_timeout" => sub {
    # nothing but query_timeout on the portal's pool; the webhook pool's
    # statements may run 30 s
    my $n2 = TrackTikTest::Nginx->start(
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=1 }
              . qq{query_timeout=30s;\n}
              . qq{tracktik_portal_postgres "\$TRACKTIK_DSN" }
              . qq{query_timeout=1s;},
        server => "tracktik_session_secret_file ${\ $tmp->dirname }"
                . "/session.secret;\n"
                . "location /portal/api/ { tracktik_portal_api; }\n");
    my $holder = IPC::Run::start(['psql', '-X', '-q', '-d', tt_dsn(), '-c',
        "BEGIN; LOCK TABLE portal_users IN ACCESS EXCLUSIVE MODE; "
        . "SELECT pg_sleep(8); COMMIT;"], \undef, \my $out, \my $err);
    sleep 0.5;
    my $s = connect_to($n2->port);
    my $t0 = time;
    print $s "GET /portal/api/stats HTTP/1.0\r\nHost: localhost\r\n"
           . "Cookie: $cookie{amy}\r\n\r\n";
    sleep 0.4;
    is hostile_running('%portal_api_stats%'), 1,
        'the page query waits behind the lock on the server';
    like hostile_read($s, 100_000, 5), qr{^HTTP/1\.1 503},
        'nginx gives up after query_timeout (1 s)';
    close $s;
    my $gone = hostile_until_none('%portal_api_stats%', $t0, 6);
    ok defined $gone && $gone < 3,
        sprintf('PostgreSQL stops it too, within 3 s (%s)',
                defined $gone ? sprintf('%.1f s', $gone) : 'still running');
    $holder->finish;
    $n2->stop;
    my @bad = grep { /\[alert\]|\[emerg\]|exited on signal/ } split /\n/,
                  $n2->error_log;
    ok !@bad, 'no alert, and no worker died' or diag join "\n", @bad;
};

# the stats of before the roll-up, read from the ledger alone
my $reference = <<'SQL';
CREATE FUNCTION pg_temp.stats_of_ledger(u portal_users, v_from timestamptz,
                                        v_to timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    WITH counts AS (
        SELECT (l.occurred_at AT TIME ZONE l.time_zone)::date AS day,
               l.severity, l.client_id, l.site_id, count(*) AS n
          FROM incidents_ledger l
         WHERE l.occurred_at >= v_from AND l.occurred_at < v_to
           AND (u.role = 'operator' OR l.client_id = u.client_id)
           AND l.client_id IS NOT NULL
           AND l.status = 'APPROVED'
           AND (u.site_ids IS NULL OR l.site_id = ANY (u.site_ids))
           AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                            WHERE n.report_id = l.report_id
                              AND n.version > l.version)
         GROUP BY 1, 2, 3, 4),
    sites AS (
        SELECT client_id, site_id, sum(n)::bigint AS n
          FROM counts GROUP BY 1, 2)
    SELECT json_build_object(
        'from', v_from, 'to', v_to,
        'per_day', coalesce((
            SELECT json_agg(json_build_object('day', d.day,
                                              'severity', d.severity,
                                              'count', d.n)
                            ORDER BY d.day, d.severity)
              FROM (SELECT day, severity, sum(n)::bigint AS n
                      FROM counts GROUP BY 1, 2) d), '[]'::json),
        'other_sites', (
            SELECT json_build_object('sites', count(*),
                                     'count', coalesce(sum(o.n), 0))
              FROM (SELECT n FROM sites ORDER BY n DESC, site_id
                    OFFSET 100) o),
        'per_site', coalesce((
            SELECT json_agg(json_build_object(
                       'site', json_build_object('id', s.site_id,
                                                 'name', v.name),
                       'count', s.n) ORDER BY s.n DESC, s.site_id)
              FROM (SELECT * FROM sites ORDER BY n DESC, site_id
                    LIMIT 100) s
             CROSS JOIN LATERAL (
                   SELECT portal_site_name(l.raw, l.site_id) AS name
                     FROM incidents_ledger l
                    WHERE l.client_id = s.client_id
                      AND l.site_id = s.site_id
                      AND l.occurred_at >= v_from AND l.occurred_at < v_to
                      AND l.status = 'APPROVED'
                    ORDER BY l.occurred_at DESC
                    LIMIT 1) v), '[]'::json))::text
$$;
SQL

subtest 'stats: bounded ranges, and the roll-up answers as the ledger' => sub {
    my $url = $ngx->url('/portal/api/stats');
    my %bad = ('from=-infinity&to=2026-01-01' => qr/from must be a finite/,
               'to=infinity' => qr/to must be a finite/,
               'from=2026-01-01&to=infinity' => qr/to must be a finite/,
               'from=2020-01-01&to=2026-01-01' => qr/at most 366 days/,
               'from=2020-01-01' => qr/at most 366 days/);
    for my $q (sort keys %bad) {
        my ($status, undef, $body) = tt_get("$url?$q",
                                            { Cookie => $cookie{amy} });
        is $status, 400, "stats?$q: 400";
        like $body, $bad{$q}, '... naming the parameter';
    }
    my ($status) = tt_get("$url?from=2025-01-01&to=2026-01-02",
                          { Cookie => $cookie{amy} });
    is $status, 200, 'a range of 366 days is answered';

    # reports of one client in 2001 (nobody else's), across zones of whole
    # and half hours, edited into other days, sites, severities and out
    # of APPROVED, some versions in one statement, some in several
    my $k = $other * 1000;
    tt_sql(insert_sql("SELECT 'b:' || x.r || ':' || x.v, x.r, x.v, "
           . "timestamptz '2001-03-01 00:00Z' + i * interval '97 minutes', "
           . "$other, $other * 10 + 1 + i % 3, "
           . "(ARRAY['LOW', 'HIGH', 'SEVERE'])[1 + i % 3], 'x', 'y', "
           . "CASE WHEN i % 7 = 3 THEN 'PENDING' ELSE 'APPROVED' END, "
           . "(ARRAY['UTC', 'America/Toronto', 'Asia/Kolkata', "
           . "'Pacific/Chatham', 'Australia/Eucla'])[1 + i % 5], "
           . "jsonb_build_object('account', jsonb_build_object('name', "
           . "'S' || i % 4)), 'x', now() "
           . "FROM generate_series(0, 899) i, "
           . "LATERAL (SELECT $k + i / 2 AS r, 1 + i % 2 AS v) x"));
    # later versions, one statement each
    for my $i (1 .. 40) {
        my $r = $k + $i * 7;
        tt_sql(insert_sql("SELECT 'b:$r:late:' || v, $r, v, "
               . "timestamptz '2001-03-05 23:30Z' + $i * interval '5 hours', "
               . "$other, $other * 10 + 1 + $i % 2, 'HIGH', 'x', 'y', "
               . "CASE WHEN $i % 5 = 0 THEN 'REJECTED' ELSE 'APPROVED' END, "
               . "'Asia/Kolkata', '{}', 'x', now() FROM (SELECT coalesce("
               . "max(version), 0) + 1 AS v FROM incidents_ledger "
               . "WHERE report_id = $r) m"));
    }

    my @ranges = (['2001-02-01', '2001-05-01'],
                  ['2001-03-02 05:17:00+00', '2001-03-20 11:00:00+00'],
                  ['2001-03-03 07:00:00+05:30', '2001-03-03 19:00:00+05:30'],
                  ['2001-03-04 00:00:00+00', '2001-03-09 00:00:00+00'],
                  ['2001-03-09 23:59:59.5+00', '2001-03-10 00:00:00.5+00']);
    my $checks = 0;
    for my $who (qw(amy kit ops)) {
        for my $r (@ranges) {
            my ($f, $t) = @$r;
            my $same = tt_sql($reference
                . "SELECT (SELECT body FROM portal_api_stats('$token{$who}', "
                . "'$f', '$t')) = pg_temp.stats_of_ledger(u, '$f', '$t') "
                . "FROM portal_users u WHERE u.email = '$email{$who}'");
            is $same, 't', "$who, [$f, $t): the same answer";
            $checks++;
        }
    }
    my $n = tt_sql("SELECT json_array_length((SELECT body::json->'per_day' "
                   . "FROM portal_api_stats('$token{kit}', '2001-02-01', "
                   . "'2001-05-01')))");
    cmp_ok $n, '>', 50, "the answers compared are not empty ($n days x "
                        . "severities)";
};

subtest 'stats name at most 100 sites, the rest summed' => sub {
    # one client's reports of one day of 2003 (nobody else's: the day
    # follows this run's numbers, so a database kept from an earlier run
    # does not add to it) over 130 sites, site n with n reports: the 100
    # busiest are listed, 30 summed
    my $c = $base + 7;
    my $day = tt_sql("SELECT date '2003-01-01' + ($base / 10 % 3000)::int");
    tt_sql(insert_sql("SELECT 'b:' || ($c * 100000 + s * 1000 + i), "
           . "$c * 100000 + s * 1000 + i, 1, "
           . "timestamptz '$day 12:00Z' + i * interval '1 second', "
           . "$c, $c * 1000 + s, 'LOW', 'x', 'y', 'APPROVED', 'UTC', "
           . "jsonb_build_object('account', jsonb_build_object('name', "
           . "'Site ' || s)), 'x', now() "
           . "FROM generate_series(1, 130) s, generate_series(1, s) i"));
    my ($f, $t) = ($day, tt_sql("SELECT date '$day' + 1"));
    my $body = tt_sql("SELECT body FROM portal_api_stats('$token{ops}', "
                      . "'$f', '$t')");
    my $stats = JSON::PP::decode_json($body);
    is scalar @{ $stats->{per_site} }, 100, '100 sites are listed';
    is $stats->{per_site}[0]{site}{id}, $c * 1000 + 130,
       '... the busiest first';
    is $stats->{per_site}[0]{count}, 130, '... with its count';
    is $stats->{per_site}[99]{site}{id}, $c * 1000 + 31, '... to the 100th';
    is_deeply $stats->{other_sites}, { sites => 30, count => 465 },
              'the other 30 sites (1 + ... + 30 reports) are summed';
    is tt_sql($reference
              . "SELECT (SELECT body FROM portal_api_stats('$token{ops}', "
              . "'$f', '$t')) = pg_temp.stats_of_ledger(u, '$f', '$t') "
              . "FROM portal_users u WHERE u.email = '$email{ops}'"),
       't', 'the roll-up answers as the ledger';
};

subtest 'the roll-up stays exact under concurrent writers' => sub {
    # four writers, each its own reports, all on the same days, sites and
    # severities; every other statement a new version of an earlier report
    my $c = $base + 6;
    my @writers = map {
        my $w = $_;
        my $sql = join "\n", map {
            my $r = $c * 1000 + $w * 100 + int($_ / 2);
            my $v = 1 + $_ % 2;
            insert_sql("VALUES ('b:$r:$v', $r, $v, timestamptz "
                       . "'2002-01-01 00:00Z' + ${\ ($_ % 5) } * "
                       . "interval '7 hours', $c, ${\ ($c * 10 + $_ % 2) }, "
                       . "'${\ (qw(LOW HIGH))[$_ % 2] }', 'x', 'y', "
                       . "'${\ ($_ % 6 == 5 ? 'REJECTED' : 'APPROVED') }', "
                       . "'America/Toronto', '{}', 'x', now());")
        } 0 .. 199;
        IPC::Run::start(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
                         '-d', tt_dsn()], \$sql, \my $out, \my $err);
    } 1 .. 4;
    ok $_->finish, 'a writer finished' for @writers;
    is tt_sql("SELECT sum(n) FROM incidents_daily WHERE client_id = $c"),
       tt_sql("SELECT count(*) FROM incidents_current WHERE client_id = $c "
              . "AND status = 'APPROVED'"),
       'the roll-up counts every current APPROVED report once';
};

subtest 'the roll-up equals the ledger, for every client' => sub {
    my $diff = tt_sql(<<'SQL');
WITH ledger AS (
    SELECT (l.occurred_at AT TIME ZONE 'UTC')::date AS utc_day, l.client_id,
           l.site_id, l.severity,
           (l.occurred_at AT TIME ZONE tracktik_time_zone(l.time_zone))::date
               AS local_day,
           count(*) AS n
      FROM incidents_current l
     WHERE l.status = 'APPROVED' AND l.client_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5),
daily AS (
    SELECT utc_day, client_id, site_id, severity, local_day, n
      FROM incidents_daily WHERE n <> 0)
SELECT count(*) FROM ((TABLE ledger EXCEPT ALL TABLE daily)
                      UNION ALL (TABLE daily EXCEPT ALL TABLE ledger)) d
SQL
    is $diff, 0, 'no day, client, site, severity or count differs';
};

$ngx->stop;

my @bad = grep { /\[alert\]|\[emerg\]|exited on signal/ } split /\n/,
              $ngx->error_log;
ok !@bad, 'no alert, and no worker died' or diag join "\n", @bad;

done_testing();
