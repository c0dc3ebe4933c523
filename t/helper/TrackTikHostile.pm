package TrackTikHostile;

# Helpers for the hostile-traffic suites (t/hostile_*.t): raw sockets
# that stop at a chosen stage of a request, table locks that make
# PostgreSQL slow, a signed-in portal user with many incidents, signed
# webhook deliveries, and the checks every such suite ends with.
#
#   my $h = TrackTikHostile->new;      # a run id and a temporary dir
#   $h->dir                            the temporary directory
#   $h->webhook_secret_file            a file with the webhook secret
#   $h->session_secret_file            a file with the session secret
#   $h->delivery($size)                (seq, body, \%signed_headers); the
#                                      seq is "<pid>-<n>", unique per run
#   $h->webhook_request($body, \%h, chunked => 0|1)
#                                      the raw HTTP/1.1 request text
#   $h->portal_client($rows)           a client with $rows incidents and
#                                      a signed-in user: its Cookie header
#   $h->portal_request($path, %extra)  raw GET text for /portal/api/$path
#   $h->portal_post($path, $body, length => N, session => 0|1)
#                                      raw POST text for /portal/api/$path
#                                      from the portal's origin; with
#                                      length, the Content-Length claimed
#   $h->jobs                           { seq => job id } of this run
#   $h->nginx(workers => N, pool => P) a TrackTikTest::Nginx serving the
#                                      webhook and the portal API, the
#                                      query deadline 3 s, streams polled
#                                      every 50 ms
#
#   hostile_connect($port)             a socket (small receive buffer)
#   hostile_read($sock, $bytes, $secs, $until)
#                                      up to $bytes read within $secs, or
#                                      until what was read matches $until
#   hostile_answer($sock, $secs)       (status, text) of the whole answer
#   hostile_lock($table, $mode)        an open transaction holding a lock
#   hostile_unlock($lock)              its COMMIT
#   hostile_rss($pid)                  VmRSS of a process, in kB
#   hostile_running($like)             statements of nginx's pools running
#                                      on the server whose text is LIKE
#                                      $like
#   hostile_until_none($like, $t0, $secs)
#                                      seconds from $t0 until none is
#                                      running, or undef after $t0 + $secs
#   hostile_log_problems($log)         lines of an error log that fail
#                                      the suites: signals, alerts,
#                                      sanitizer reports, unclean exits
#   hostile_workers_started($log)      how many workers the master started

use strict;
use warnings;

use Carp qw(croak);
use File::Temp ();
use IO::Socket::INET;
use IPC::Run ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(sleep time);
use TrackTikTest;

use Exporter 'import';

our @EXPORT = qw(hostile_connect hostile_read hostile_answer hostile_lock
                 hostile_unlock hostile_rss hostile_log_problems
                 hostile_workers_started hostile_running hostile_until_none);

sub new {
    my ($class) = @_;
    my $self = bless {
        run => time() =~ s/\.//r . $$,
        seq => 0,
        tmp => File::Temp->newdir('tt-hostile-XXXXXX', TMPDIR => 1),
    }, $class;
    my $d = $self->dir;
    $self->{webhook_secret} = "hostile-webhook-secret-$self->{run}";
    $self->{session_secret} = "hostile-session-secret-$self->{run}-"
                              . ('s' x 32);
    tt_write_file("$d/webhook.secret", "$self->{webhook_secret}\n");
    tt_write_file("$d/session.secret", "$self->{session_secret}\n");
    return $self;
}

sub dir { $_[0]{tmp}->dirname }
sub run { $_[0]{run} }
sub webhook_secret_file { $_[0]->dir . '/webhook.secret' }
sub session_secret_file { $_[0]->dir . '/session.secret' }

# a unique report entity tagged with this run, and its signed headers
sub delivery {
    my ($self, $size) = @_;
    my $n = ++$self->{seq};
    # the sender's pid: forked senders of one run never share a seq
    my $s = "$$-$n";
    my $body = tt_sample_report(id => ($$ % 100000) * 100000 + $n,
                                narrative => 'h' x ($size // 200));
    $body =~ s/^\{/{"testRun":"$self->{run}","seq":"$s",/;
    return ($s, $body, {
        'Content-Type' => 'application/json',
        'TrackTik-Subscription-Secret' =>
            tt_hmac_hex('sha512', $self->{webhook_secret}, $body),
    });
}

sub webhook_request {
    my ($self, $body, $headers, %opt) = @_;
    my $text = "POST /webhooks/tracktik HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n";
    $text .= "$_: $headers->{$_}\r\n" for sort keys %$headers;
    if ($opt{chunked}) {
        $text .= "Transfer-Encoding: chunked\r\n\r\n";
        $text .= sprintf("%x\r\n%s\r\n", length $_, $_)
            for unpack '(a700)*', $body;
        return $text . "0\r\n\r\n";
    }
    return $text . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

# { seq => job id } for every job row of this run
sub jobs {
    my ($self) = @_;
    my %jobs;
    for (split /\n/, tt_sql("SELECT payload->>'seq', id FROM tracktik_jobs "
                            . "WHERE payload->>'testRun' = '$self->{run}'")) {
        my ($s, $id) = split /\|/;
        $jobs{$s} = $id;
    }
    return \%jobs;
}

sub nginx {
    my ($self, %opt) = @_;
    my $pool = $opt{pool} // 2;
    my ($session, $webhook) = ($self->session_secret_file,
                               $self->webhook_secret_file);
    return TrackTikTest::Nginx->start(
        workers => $opt{workers} // 2,
        master => 1,
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=$pool }
              . qq{portal_pool=2 query_timeout=3s;},
        server => "
            tracktik_session_secret_file $session;
            tracktik_portal_events_interval 50ms;

            location = /webhooks/tracktik {
                tracktik_webhook;
                tracktik_webhook_secret_file $webhook;
                tracktik_webhook_retry_after 1s;
            }

            location /portal/api/ {
                tracktik_portal_api;
            }
");
}

# a client of this run with $rows approved incidents (a CSV export of
# several pages; no Last-Event-ID resumption of them in one message is
# cheap) and a signed-in user of it: the Cookie header's value
sub portal_client {
    my ($self, $rows) = @_;
    my $client = ($self->{run} % 100000000) * 10 + 4;
    my $email = "hostile.$self->{run}\@client-h.test";
    tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
           . "occurred_at, client_id, site_id, severity, category, "
           . "report_template, status, time_zone, raw, raw_sha256) "
           . "SELECT 'h:' || (${client}::bigint * 100000 + g) || ':1', "
           . "${client}::bigint * 100000 + g, 1, timestamptz '2026-01-01' "
           . "+ g * interval '1 minute', $client, "
           . "${client}::bigint * 10 + 1, 'LOW', "
           . "'Patrol round with a long enough category name', "
           . "'Patrol Report', 'APPROVED', 'UTC', '{}', 'x' "
           . "FROM generate_series(1, $rows) g");
    tt_sql("SELECT portal_user_add('$email', 'hostile password', 'client', "
           . "$client, NULL)");
    my $token = tt_sql("SELECT next FROM ("
                       . tt_login_sql($email, 'hostile password',
                                      '127.0.0.8', 3600) . ") l");
    croak "TrackTikHostile: no session for $email" unless $token;
    $self->{client} = $client;
    $self->{email} = $email;
    $self->{cookie} = tt_session_cookie($token, $self->{session_secret});
    return $self->{cookie};
}

# a new session of the same user: the portal allows four event streams a
# session (a closed one keeps its place for up to a minute), so the suites
# open their many streams four to a session
sub portal_new_session {
    my ($self) = @_;
    my $token = tt_sql("SELECT next FROM ("
                       . tt_login_sql($self->{email}, 'hostile password',
                                      '127.0.0.8', 3600) . ") l");
    croak "TrackTikHostile: no session for $self->{email}" unless $token;
    $self->{cookie} = tt_session_cookie($token, $self->{session_secret});
    $self->{streams} = 0;
    return $self->{cookie};
}

sub client { $_[0]{client} }

# one more incident for the portal client (an event for its streams)
sub portal_incident {
    my ($self) = @_;
    my $c = $self->{client};
    my $id = $c * 100000 + 90000 + ++$self->{incidents};
    tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
           . "occurred_at, client_id, site_id, severity, category, "
           . "report_template, status, time_zone, raw, raw_sha256) VALUES "
           . "('h:$id:1', $id, 1, now(), $c, ${c}::bigint * 10 + 1, "
           . "'HIGH', 'Alarm', "
           . "'Incident Report', 'APPROVED', 'UTC', '{}', 'x')");
}

sub portal_request {
    my ($self, $path, %extra) = @_;
    if ($path eq 'events' && ++$self->{streams} > 4) {
        $self->portal_new_session;
        $self->{streams} = 1;
    }
    my $text = "GET /portal/api/$path HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nCookie: $self->{cookie}\r\n";
    $text .= "$_: $extra{$_}\r\n" for sort keys %extra;
    return "$text\r\n";
}

sub portal_post {
    my ($self, $path, $body, %opt) = @_;
    my $text = "POST /portal/api/$path HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nOrigin: http://localhost\r\n"
             . "Content-Type: application/json\r\n";
    $text .= "Cookie: $self->{cookie}\r\n" if $opt{session};
    return $text . "Content-Length: " . ($opt{length} // length $body)
         . "\r\n\r\n$body";
}

sub hostile_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or croak "socket: $!";
    # a small window: a streamed answer cannot all sit in the kernel
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    $s->connect(Socket::pack_sockaddr_in($port,
                                         Socket::inet_aton('127.0.0.1')))
        or croak "connect to $port: $!";
    $s->autoflush(1);
    return $s;
}

sub hostile_read {
    my ($s, $bytes, $secs, $until) = @_;
    my $got = '';
    my $deadline = time + $secs;
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    while (length $got < $bytes) {
        my $left = $deadline - time;
        last if $left <= 0;
        last unless select(my $rout = $rin, undef, undef, $left);
        my $n = sysread $s, $got, $bytes - length $got, length $got;
        last unless $n;
        last if defined $until && $got =~ $until;
    }
    return $got;
}

sub hostile_answer {
    my ($s, $secs) = @_;
    my $text = hostile_read($s, 100_000_000, $secs // 30);
    close $s;
    my ($status) = $text =~ m{^HTTP/1\.1 (\d+)};
    return ($status // 0, $text);
}

sub hostile_lock {
    my ($table, $mode) = @_;
    $mode //= 'ACCESS EXCLUSIVE';
    my ($in, $out, $err) = ("BEGIN;\nLOCK TABLE $table IN $mode MODE;\n"
                            . "SELECT 'locked';\n", '', '');
    my $h = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', tt_dsn()],
                            \$in, \$out, \$err);
    my $deadline = time + 10;
    while ($out !~ /locked/ && time < $deadline) {
        $h->pump_nb;
        sleep 0.02;
    }
    croak "TrackTikHostile: could not lock $table: $err"
        unless $out =~ /locked/;
    return { h => $h, in => \$in };
}

sub hostile_unlock {
    my ($lock) = @_;
    ${ $lock->{in} } .= "COMMIT;\n\\q\n";
    $lock->{h}->finish;
}

sub hostile_rss {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    # not $_: a caller's loop over pids may have it aliased
    while (my $line = <$fh>) {
        return $1 if $line =~ /^VmRSS:\s+(\d+)\s+kB/;
    }
    return undef;
}

sub hostile_running {
    my ($like) = @_;
    return tt_sql("SELECT count(*) FROM pg_stat_activity "
                  . "WHERE application_name = 'ngx_http_tracktik' "
                  . "AND state = 'active' AND query LIKE '$like'");
}

sub hostile_until_none {
    my ($like, $t0, $secs) = @_;
    while (time - $t0 < $secs) {
        return time - $t0 if hostile_running($like) == 0;
        sleep 0.1;
    }
    return undef;
}

sub hostile_log_problems {
    my ($log) = @_;
    return grep {
        /exited on signal|exited with code [1-9]|\[alert\]|\[emerg\]/
        || /runtime error|Sanitizer/
    } split /\n/, $log;
}

sub hostile_workers_started {
    my ($log) = @_;
    return scalar(() = $log =~ /start worker process \d+/g);
}

1;
