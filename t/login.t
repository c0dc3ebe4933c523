# Portal logins and the password thread: the bcrypt check runs in one
# SCHED_IDLE thread per nginx worker, not in PostgreSQL and not in the
# event loop.  A burst beyond its queue is refused with 503 and
# Retry-After, never hangs; a client that goes away while its check waits
# costs nothing else; the password never reaches PostgreSQL.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikLogin;
use TrackTikTest;

my $run = time() =~ s/\.//r . $$;
my $password = "login-test password $$";
my $email = "storm.$run\@client.test";
my $client = $$ * 10 + 7;

my $tmp = File::Temp->newdir('tt-login-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/session.secret';
tt_write_file($secret_file, "session-secret-$run-0123456789abcdef\n");

tt_sql("SELECT portal_user_add('$email', '$password', 'client', $client, "
       . "NULL)");
# no throttling left by earlier runs: from 127.0.0.1, or from the /64s
# the storms below come from
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1' "
       . "OR ip LIKE '2001:db8:1:%'");

my $ngx = TrackTikLogin::nginx($secret_file);

my $url = $ngx->url('/portal/api/login');
my %json = ('Content-Type' => 'application/json',
            'Origin' => 'http://127.0.0.1:' . $ngx->port);

sub creds { TrackTikLogin::creds(@_) }

sub sessions {
    return 0 + tt_sql("SELECT count(*) FROM portal_sessions s "
                      . "JOIN portal_users u ON u.id = s.user_id "
                      . "WHERE u.email = '$email'");
}

# A login sent on a connection of its own, not yet read.  Each comes from
# a client address of its own (X-Forwarded-For, trusted from 127.0.0.1):
# the storms below test the password thread's queue, not the throttle,
# which holds back a storm from one address (t/login_throttle.t).
my $clients = 0;

sub send_login {
    $clients++;
    return TrackTikLogin::send($ngx, $email, $password,
                               sprintf('2001:db8:1:%x::1', $clients));
}

sub read_response { TrackTikLogin::response(@_) }

my ($status, $headers, $body);

subtest 'a login is checked by nginx and opens a session' => sub {
    ($status, $headers, $body) = tt_post($url, creds($email, $password),
                                         \%json);
    is $status, 200, 'the right password: 200';
    like $headers->{'set-cookie'} // '', qr/^tt_session=[0-9a-f]{64}\./,
        '... with the session cookie';
    is sessions(), 1, '... and one session row';

    ($status, undef, $body) = tt_post($url, creds($email, 'wrong one'),
                                      \%json);
    is $status, 401, 'a wrong password: 401';
    my ($unknown_status, undef, $unknown_body) =
        tt_post($url, creds("nobody.$run\@client.test", $password), \%json);
    is $unknown_status, 401, 'an unknown account: 401';
    is $unknown_body, $body, '... with the same answer as a wrong password';
    is sessions(), 1, 'no session for either';

    tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");
};

# nginx ends a chunked body with an empty buffer (pos and last NULL);
# with a sanitizer build (UBSan) a copy from it is reported in the log
subtest 'a chunked login body is read like any other' => sub {
    my @chunks = unpack '(a16)*', creds($email, $password);
    my ($st, $head) = tt_post($url, sub { shift @chunks }, \%json);
    is $st, 200, 'the right password in chunks of 16 bytes: 200';
    like $head->{'set-cookie'} // '', qr/^tt_session=[0-9a-f]{64}\./,
        '... with the session cookie';
    unlike $ngx->error_log, qr/runtime error/,
        'no undefined behaviour reported';
};

subtest 'the check runs in a thread of the worker scheduled SCHED_IDLE' => sub {
    my ($worker) = $ngx->worker_pids;
    ok $worker, 'the worker is running';
    my @policy;
    for my $stat (glob "/proc/$worker/task/*/stat") {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        # the fields after "(comm) "; the policy is field 41 overall
        my @f = split / /, ($line =~ s/^.*\) //r);
        push @policy, $f[38];
    }
    is scalar(@policy), 2, 'the worker has two threads after a login';
    # 0 SCHED_OTHER, 5 SCHED_IDLE
    is_deeply [sort { $a <=> $b } @policy], [0, 5],
        'the event loop SCHED_OTHER, the password thread SCHED_IDLE';
};

# the status line's mask of blocked signals, as a bit string (bit n-1 for
# signal n)
sub sigblk {
    my ($status) = @_;
    open my $fh, '<', $status or return undef;
    my ($hex) = join('', <$fh>) =~ /^SigBlk:\s*([0-9a-f]+)$/m;
    close $fh;
    return undef unless defined $hex;
    # 16 hex digits, most significant first: reversed into bytes low first
    return unpack 'b64', scalar reverse pack 'H16',
                                         ('0' x (16 - length $hex)) . $hex;
}

subtest 'the password thread blocks every signal from its start' => sub {
    my ($worker) = $ngx->worker_pids;
    my ($thread, $loop);
    for my $task (glob "/proc/$worker/task/*") {
        open my $fh, '<', "$task/stat" or next;
        my @f = split / /, (<$fh> =~ s/^.*\) //r);
        close $fh;
        if ($f[38] == 5) {
            $thread = sigblk("$task/status");
        } else {
            $loop = sigblk("$task/status");
        }
    }
    ok defined $thread, 'the SCHED_IDLE thread\'s mask is read';
    # all but SIGKILL (9) and SIGSTOP (19), which cannot be blocked, and
    # 32 and 33, which glibc keeps for itself
    my @open = grep { substr($thread // '', $_ - 1, 1) ne '1' }
               grep { $_ != 9 && $_ != 19 && $_ != 32 && $_ != 33 } 1 .. 64;
    is_deeply \@open, [], 'the password thread blocks every signal, '
                         . 'SIGSEGV, SIGBUS, SIGFPE and SIGILL included';
    is $loop, '0' x 64, 'the event loop blocks none, as nginx left it';
};

subtest 'a burst beyond the queue is refused with 503, never hangs' => sub {
    my $before = sessions();
    my $t0 = time;
    my @conns = map { send_login() } 1 .. 120;
    my (%count, @refused);
    for my $s (@conns) {
        my ($st, $head, $b) = read_response($s);
        $count{$st}++;
        push @refused, [$head, $b] if $st == 503;
    }
    my $took = time - $t0;
    note sprintf "120 logins: %s in %.1f s",
        join(', ', map { "$_ x $count{$_}" } sort keys %count), $took;

    is_deeply [grep { $_ != 200 && $_ != 503 } keys %count], [],
        'every answer is 200 or 503';
    ok $count{503}, 'logins beyond the queue of 64 are refused';
    ok $count{200} && $count{200} >= 30,
        'the queued ones are answered (at least 30 of them)';
    is scalar(grep { $_->[0] =~ /^Retry-After: \d+\r?$/mi } @refused),
        scalar(@refused), 'every 503 has Retry-After';
    is scalar(grep { $_->[1] =~ /too many logins at once/ } @refused),
        scalar(@refused), '... and says why';
    is sessions() - $before, $count{200} // 0,
        'one session per 200, none for a 503';
    like $ngx->error_log,
        qr/logins are already waiting for their password check/,
        'the refusals are logged';
};

subtest 'clients that leave while their check waits cost nothing else' => sub {
    my ($worker) = $ngx->worker_pids;
    my $before = sessions();
    my @gone = map { send_login() } 1 .. 40;
    sleep 0.2;
    close $_ for @gone;

    # the abandoned checks drain; then a login is answered as usual
    my $deadline = time + 60;
    do {
        sleep 0.5;
        ($status) = tt_post($url, creds($email, $password), \%json);
    } while ($status != 200 && time < $deadline);
    is $status, 200, 'a later login succeeds';
    is(($ngx->worker_pids)[0], $worker, 'by the same worker process');
    cmp_ok sessions() - $before, '<=', 1 + 40,
        'no more sessions than logins';
    unlike $ngx->error_log, qr/\[alert\]|\[emerg\]|signal \d+/,
        'no alert and no crash in the error log';
};

subtest 'the password is never sent to PostgreSQL' => sub {
    unlike $ngx->error_log, qr/\Q$password\E/, 'the error log has no password';
    is tt_sql("SELECT count(*) FROM pg_proc WHERE proname = 'portal_login'"),
        0, 'portal_login(email, password, ...) no longer exists to take one';
};

subtest 'workers that have logged users in exit cleanly on reloads' => sub {
    # each round: a worker's password thread has run, then the worker
    # exits while nginx unloads the module in it
    for my $round (1 .. 8) {
        my ($old) = $ngx->worker_pids;
        $ngx->reload;
        isnt(($ngx->worker_pids)[0], $old, "round $round: a new worker serves");
        ($status) = tt_post($url, creds($email, $password), \%json);
        is $status, 200, "round $round: and logs in";
    }
    unlike $ngx->error_log, qr/exited on signal/,
        'no worker crashed on its way out';
    unlike $ngx->error_log, qr/open socket .* left in connection|\[alert\]/,
        'the old workers closed their password thread\'s eventfd on exit';
};

# the CPU time (seconds) the worker's SCHED_IDLE thread has used
sub thread_cpu {
    my ($worker) = $ngx->worker_pids;
    for my $stat (glob "/proc/$worker/task/*/stat") {
        open my $fh, '<', $stat or next;
        my @f = split / /, (<$fh> =~ s/^.*\) //r);
        close $fh;
        return ($f[11] + $f[12]) / 100 if $f[38] == 5;    # ticks of 10 ms
    }
    return undef;
}

subtest 'a storm is held to tracktik_portal_password_cpu' => sub {
    $ngx->reload(http => <<"HTTP");
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2;
    tracktik_portal_password_cpu 5%;
HTTP
    ($status) = tt_post($url, creds($email, $password), \%json);
    is $status, 200, 'a single login passes at once';
    my $before = sessions();
    my $cpu0 = thread_cpu();
    ok defined $cpu0, 'the password thread is found';

    # 40 logins wait; 6 s later the thread has had its burst (0.5 s of
    # CPU) and 5% of 6 s, where 40 checks take several seconds of CPU
    my @conns = map { send_login() } 1 .. 40;
    sleep 6;
    my $used = thread_cpu() - $cpu0;
    my $opened = sessions() - $before;
    close $_ for @conns;
    note sprintf "6 s of a storm: %.2f s of CPU, %d logins", $used, $opened;

    cmp_ok $used, '<=', 1.2, 'the thread kept to its burst and its share';
    cmp_ok $opened, '>=', 3, 'the burst passed at full speed';
    cmp_ok $opened, '<', 40, 'the rest of the storm waited';
};

subtest 'a login that waits past query_timeout gets 503, not a hang' => sub {
    $ngx->reload(http => <<"HTTP");
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2 query_timeout=1s;
    tracktik_portal_password_cpu 1%;
HTTP
    my $t0 = time;
    my @conns = map { send_login() } 1 .. 15;
    my (%count, @refused);
    for my $s (@conns) {
        my ($st, $head, $b) = read_response($s);
        $count{$st}++;
        push @refused, $b if $st == 503;
    }
    my $took = time - $t0;
    note sprintf "15 logins at 1%%: %s in %.1f s",
        join(', ', map { "$_ x $count{$_}" } sort keys %count), $took;

    ok $count{200}, 'the burst logs in';
    ok $count{503}, 'the rest are refused';
    is_deeply [grep { $_ != 200 && $_ != 503 } keys %count], [],
        'with nothing else';
    cmp_ok $took, '<', 30, 'all answered, none left hanging';
    is scalar(grep { /too many logins at once/ } @refused), scalar(@refused),
        'the 503s say why';
    like $ngx->error_log, qr/the password check waited too long/,
        'and are logged';
};

$ngx->stop;
done_testing();
