# The webhook when PostgreSQL misbehaves: stopped, slow, saturated,
# killed in the middle of a burst, and nginx reloaded with deliveries in
# flight.  The rule under test: a 2xx means the job row is committed;
# otherwise the sender gets 503 with Retry-After and tries again.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use IO::Socket::INET;
use IPC::Run ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikHostile qw(hostile_running hostile_until_none);
use TrackTikTest;

my $secret = "pg-test-secret-$$";
my $tmp = File::Temp->newdir('tt-pg-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/webhook.secret';
tt_write_file($secret_file, "$secret\n");

my $run = time() . $$;
my $seq = 0;
my $Async = 0;

# a unique report entity tagged with this run, and its signed headers
sub delivery {
    my (%over) = @_;
    $seq++;
    my $body = tt_sample_report(id => $$ * 100000 + $seq, %over);
    $body =~ s/^\{/{"testRun":"$run","seq":"$$.$seq",/;
    return ($body, {
        'Content-Type' => 'application/json',
        'TrackTik-Subscription-Secret' => tt_hmac_hex('sha512', $secret, $body),
    });
}

sub jobs_with_seq {
    my ($seq) = @_;
    return 0 + tt_sql("SELECT count(*) FROM tracktik_jobs "
                  . "WHERE payload->>'testRun' = '$run' "
                  . "AND payload->>'seq' = '$seq'");
}

# POST in a child process; returns a handle for collect()
sub post_async {
    my ($url, $body, $headers) = @_;
    my $file = $tmp->dirname . "/result." . ++$Async;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($status, $h, $content) = tt_post($url, $body, $headers);
        open my $fh, '>', $file or POSIX::_exit(1);
        print $fh "$status\n$content";
        close $fh;
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file };
}

# the status if the child has finished, else undef
sub collect_nb {
    my ($h) = @_;
    return undef unless -s $h->{file};
    return collect($h);
}

sub collect {
    my ($h) = @_;
    waitpid $h->{pid}, 0;
    open my $fh, '<', $h->{file} or return (0, '');
    local $/;
    my $text = <$fh>;
    close $fh;
    my ($status, $body) = split /\n/, $text, 2;
    return ($status, $body // '');
}

# an open transaction holding an EXCLUSIVE lock on the delivery table
# (or on $table): INSERTs wait behind it, as they would behind a slow or
# stuck database
sub hold_lock {
    my ($table) = @_;
    $table //= 'tracktik_deliveries';
    my ($in, $out, $err) = ("BEGIN;\nLOCK TABLE $table "
                            . "IN EXCLUSIVE MODE;\nSELECT 'locked';\n", '', '');
    my $h = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', tt_dsn()],
                            \$in, \$out, \$err);
    my $deadline = time + 10;
    while ($out !~ /locked/ && time < $deadline) {
        $h->pump_nb;
        sleep 0.05;
    }
    die "could not take the lock: $err" unless $out =~ /locked/;
    return { h => $h, in => \$in };
}

sub release_lock {
    my ($lock) = @_;
    ${ $lock->{in} } .= "COMMIT;\n\\q\n";
    $lock->{h}->finish;
}

sub webhook_server {
    my (%opt) = @_;
    my $params = $opt{params} // 'pool=2';
    return TrackTikTest::Nginx->start(
        workers => $opt{workers} // 2,
        master => 1,
        log_level => $opt{log_level} // 'info',
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" $params;},
        server => <<"CONF");
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
            tracktik_webhook_retry_after 7s;
        }
CONF
}

END {
    # whatever happened, leave PostgreSQL running for the other suites
    eval { tt_pg('start') };
}

subtest 'PostgreSQL stopped: 503 with Retry-After; restarted: 202 again '
        . 'without restarting nginx' => sub {
    my $n = webhook_server();
    my $url = $n->url('/webhooks/tracktik');
    my @workers = $n->worker_pids;

    my ($status, $h) = tt_post($url, delivery());
    is $status, 202, 'queued while PostgreSQL is up';

    tt_pg('stop');

    my ($body, $headers) = delivery();
    my $content;
    ($status, $h, $content) = tt_post($url, $body, $headers);
    is $status, 503, 'PostgreSQL down: 503';
    is $h->{'retry-after'}, '7', '... with Retry-After from '
        . 'tracktik_webhook_retry_after';
    like $content, qr/"status":"unavailable"/, '... and a JSON explanation';

    ($status) = tt_post($url, delivery());
    is $status, 503, 'still 503 while it is down';

    tt_pg('start');

    # each worker reconnects after its backoff (at most a second)
    my $ok = 0;
    my $deadline = time + 20;
    while (time < $deadline) {
        ($status) = tt_post($url, $body, $headers);
        if ($status == 202) { $ok = 1; last }
        sleep 0.2;
    }
    ok $ok, 'the refused delivery is accepted once PostgreSQL is back';
    my ($s) = $body =~ /"seq":"([\d.]+)"/;
    is jobs_with_seq($s), 1, '... and stored exactly once';

    is_deeply [$n->worker_pids], \@workers, 'same nginx worker processes';
    like $n->error_log, qr/could not connect to PostgreSQL/,
        'the outage is in the error log';
    unlike $n->error_log, qr/\[alert\]|\Q$secret\E/,
        'no alerts and no secret in the error log';
    $n->stop;
};

subtest 'PostgreSQL slower than query_timeout: 503, and a retry stores '
        . 'the job once' => sub {
    my $n = webhook_server(params => 'pool=1 query_timeout=1s', workers => 1);
    my $url = $n->url('/webhooks/tracktik');
    my ($body, $headers) = delivery();
    my ($s) = $body =~ /"seq":"([\d.]+)"/;

    my $lock = hold_lock();
    my $t0 = time;
    my ($status, $h) = tt_post($url, $body, $headers);
    my $took = time - $t0;
    is $status, 503, 'a stuck INSERT is answered 503';
    ok defined $h->{'retry-after'}, '... with Retry-After';
    cmp_ok $took, '<', 8, '... after the timeout, not the client\'s';
    release_lock($lock);

    my $final;
    my $deadline = time + 20;
    while (time < $deadline) {
        ($final) = tt_post($url, $body, $headers);
        last if $final == 202 || $final == 200;
        sleep 0.2;
    }
    ok $final == 202 || $final == 200, "the sender's retry succeeds ($final)";
    is jobs_with_seq($s), 1, 'exactly one job for the delivery';
    like $n->error_log, qr/timed out/, 'the timeout is logged';
    $n->stop;
};

subtest 'statement_timeout defaults to query_timeout: a stuck INSERT '
        . 'stops on the server too' => sub {
    # query_timeout alone: no statement_timeout given
    my $n = webhook_server(params => 'pool=1 query_timeout=1s', workers => 1);
    my $url = $n->url('/webhooks/tracktik');
    my ($warm) = tt_post($url, delivery());
    is $warm, 202, 'the connection is up';

    my ($body, $headers) = delivery();
    my ($s) = $body =~ /"seq":"([\d.]+)"/;
    my $lock = hold_lock('tracktik_jobs');
    my $t0 = time;
    my $post = post_async($url, $body, $headers);
    sleep 0.4;
    is hostile_running('%tracktik_ingest(%'), 1,
        'the group INSERT waits behind LOCK TABLE tracktik_jobs';
    my ($status) = collect($post);
    is $status, 503, 'nginx gives up after query_timeout (1 s): 503';
    my $gone = hostile_until_none('%tracktik_ingest(%', $t0, 6);
    ok defined $gone && $gone < 3,
        sprintf('PostgreSQL cancels it too, within 3 s (%s)',
                defined $gone ? sprintf('%.1f s', $gone) : 'still running');
    release_lock($lock);
    sleep 0.3;
    is jobs_with_seq($s), 0, 'the refused delivery was not stored after all '
        . '(its sender retries it)';
    unlike $n->error_log, qr/\[alert\]|exited on signal/, 'no alerts';
    $n->stop;
};

subtest 'pool exhausted: further deliveries get 503 at once' => sub {
    my $n = webhook_server(params => 'pool=1 queue=1 batch=1 '
                                     . 'query_timeout=30s', workers => 1);
    my $url = $n->url('/webhooks/tracktik');

    my ($warm) = tt_post($url, delivery());
    is $warm, 202, 'the connection is up';

    my $lock = hold_lock();
    my @busy = map { post_async($url, delivery()) } 1 .. 2;
    sleep 0.5;
    my $t0 = time;
    my ($status, $h, $content) = tt_post($url, delivery());
    is $status, 503, 'a third delivery beyond pool=1 queue=1 is refused';
    like $content, qr/too many deliveries in flight/, '... saying why';
    cmp_ok time - $t0, '<', 5, '... without waiting for the database';
    release_lock($lock);

    my @done = map { (collect($_))[0] } @busy;
    is_deeply \@done, [202, 202], 'the two waiting deliveries commit';
    $n->stop;
};

subtest 'group commit: deliveries that arrive while an INSERT is in '
        . 'flight share the next transaction' => sub {
    my $n = webhook_server(params => 'pool=1 query_timeout=30s',
                           workers => 1, log_level => 'debug');
    my $url = $n->url('/webhooks/tracktik');

    my ($warm) = tt_post($url, delivery());
    is $warm, 202, 'the connection is up';

    my $lock = hold_lock();
    my @seqs;
    my @inflight = map {
        my ($body, $headers) = delivery();
        push @seqs, $body =~ /"seq":"([\d.]+)"/;
        post_async($url, $body, $headers);
    } 1 .. 10;

    # all ten are waiting: one INSERT in flight, nine queued behind it
    my $deadline = time + 10;
    while (time < $deadline) {
        last if (() = $n->error_log =~ /tracktik webhook: group commit/g) >= 2;
        sleep 0.05;
    }
    sleep 0.3;
    my @before = map { (collect_nb($_))[0] } @inflight;
    is scalar(grep { defined } @before), 0, 'nobody is answered before COMMIT';

    release_lock($lock);

    my @status = map { (collect($_))[0] } @inflight;
    is_deeply \@status, [(202) x 10], 'all ten are queued';
    is_deeply [map { jobs_with_seq($_) } @seqs], [(1) x 10],
        '... and stored';
    my @sizes = $n->error_log =~ /group commit of (\d+) deliveries/g;
    my ($max) = sort { $b <=> $a } @sizes;
    cmp_ok $max, '>=', 5, "the waiting ones went in one statement "
        . "(group sizes: @sizes)";
    $n->stop;
};

subtest 'HUP reload with deliveries in flight: every one is committed '
        . 'and answered' => sub {
    my $n = webhook_server(params => 'pool=2 query_timeout=30s');
    my $url = $n->url('/webhooks/tracktik');
    my @old = $n->worker_pids;

    my $lock = hold_lock();
    my @seqs;
    my @inflight = map {
        my ($body, $headers) = delivery();
        push @seqs, $body =~ /"seq":"([\d.]+)"/;
        post_async($url, $body, $headers);
    } 1 .. 6;
    sleep 0.5;

    # the old workers keep their requests while new workers take over
    my $pid = $n->pid;
    kill 'HUP', $pid;
    my $deadline = time + 10;
    my $new = 0;
    while (time < $deadline) {
        my %old = map { $_ => 1 } @old;
        $new = grep { !$old{$_} } $n->worker_pids;
        last if $new >= 2;
        sleep 0.1;
    }
    cmp_ok $new, '>=', 2, 'new workers started';

    release_lock($lock);

    my @status = map { (collect($_))[0] } @inflight;
    is_deeply \@status, [(202) x 6], 'every in-flight delivery got 202';
    is_deeply [map { jobs_with_seq($_) } @seqs], [(1) x 6],
        '... and every one is in the job table';

    my ($status) = tt_post($url, delivery());
    is $status, 202, 'the new workers accept deliveries';
    unlike $n->error_log, qr/\[alert\]/, 'no alerts'
        or diag join "\n", grep { /\[alert\]/ } split /\n/, $n->error_log;
    $n->stop;
};

subtest 'a truncated body stores nothing' => sub {
    my $n = webhook_server(workers => 1);
    my ($body, $headers) = delivery();
    my ($s) = $body =~ /"seq":"([\d.]+)"/;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $n->port) or die $!;
    my $len = length $body;
    print $sock "POST /webhooks/tracktik HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nContent-Length: $len\r\n"
        . "TrackTik-Subscription-Secret: "
        . "$headers->{'TrackTik-Subscription-Secret'}\r\n\r\n"
        . substr($body, 0, int($len / 2));
    $sock->shutdown(1);
    local $/;
    my $resp = <$sock> // '';
    close $sock;
    unlike $resp, qr/^HTTP\/1\.1 2/, 'no 2xx for half a body';

    sleep 0.3;
    is jobs_with_seq($s), 0, 'no job was stored';
    my ($status) = tt_post($n->url('/webhooks/tracktik'), $body, $headers);
    is $status, 202, 'the whole body is then accepted as new';
    $n->stop;
};

subtest 'PostgreSQL killed during a burst: every acknowledged delivery '
        . 'is in the table' => sub {
    my $n = webhook_server(params => 'pool=4 query_timeout=5s');
    my $url = $n->url('/webhooks/tracktik');
    my $log = $tmp->dirname . '/burst.log';
    my $stop = $tmp->dirname . '/burst.stop';
    my $clients = 8;

    my @kids;
    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $out, '>>', "$log.$c" or POSIX::_exit(1);
            $out->autoflush(1);
            while (!-e $stop) {
                my ($body, $headers) = delivery();
                my ($s) = $body =~ /"seq":"([\d.]+)"/;
                my ($status) = tt_post($url, $body, $headers);
                print $out "$c-$s $status\n";
            }
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    my $count = sub {
        my %st;
        for my $c (1 .. $clients) {
            open my $in, '<', "$log.$c" or next;
            while (<$in>) { $st{$1}++ if / (\d+)$/ }
        }
        return \%st;
    };
    my $wait_for = sub {
        my ($what, $n) = @_;
        my $deadline = time + 60;
        while (time < $deadline) {
            return 1 if ($count->()->{$what} // 0) >= $n;
            sleep 0.1;
        }
        return 0;
    };

    ok $wait_for->(202, 200), 'the burst is being acknowledged';
    tt_pg('kill');
    ok $wait_for->(503, 20), 'deliveries are refused while it is down';
    tt_pg('start');
    my $before = $count->()->{202} // 0;
    ok $wait_for->(202, $before + 200), 'and acknowledged again after restart';

    open my $fh, '>', $stop or die $!;
    close $fh;
    waitpid $_, 0 for @kids;

    my (%acked, %other);
    for my $c (1 .. $clients) {
        open my $in, '<', "$log.$c" or die $!;
        while (<$in>) {
            my ($key, $status) = split;
            my (undef, $s) = split /-/, $key, 2;
            if ($status =~ /^2/) { $acked{$s} = $status } else { $other{$status}++ }
        }
    }
    my @stored = split /\n/, tt_sql("SELECT payload->>'seq' FROM tracktik_jobs "
                                    . "WHERE payload->>'testRun' = '$run'");
    my %stored = map { $_ => 1 } @stored;
    my @lost = grep { !$stored{$_} } keys %acked;
    cmp_ok scalar(keys %acked), '>', 400, scalar(keys %acked)
        . ' deliveries were acknowledged';
    is scalar(@lost), 0, 'none of them is missing from the job table'
        or diag "lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]";
    my @unexpected = grep { $_ != 503 } keys %other;
    is_deeply \@unexpected, [], 'every other answer was 503 (' 
        . join(', ', map { "$_ x $other{$_}" } sort keys %other) . ')';
    unlike $n->error_log, qr/\[alert\]/, 'no alerts';
    $n->stop;
};

done_testing();
