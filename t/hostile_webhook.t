# The webhook against senders that misbehave while PostgreSQL is slow:
# clients that give up mid-flight, chunked bodies.  The rules under test:
# no nginx worker ever exits on a signal, and every delivery answered
# 202 has its job row.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use HTTP::Tiny;
use IPC::Run ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikTest;

my $secret = "hostile-test-secret-$$";
my $tmp = File::Temp->newdir('tt-hostile-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/webhook.secret';
IPC::Run::run(['cat'], '<', \"$secret\n", '>', $secret_file)
    or die "cannot write $secret_file";

my $run = time() . $$;
my $seq = 0;

# a unique report entity tagged with this run, padded to about $size bytes
sub delivery {
    my ($size) = @_;
    $seq++;
    my $body = tt_sample_report(id => $$ * 100000 + $seq,
                                narrative => 'z' x ($size // 100));
    $body =~ s/^\{/{"testRun":"$run","seq":"$seq",/;
    return ($seq, $body);
}

sub rows_with_seq {
    my ($s) = @_;
    return 0 + tt_sql("SELECT count(*) FROM tracktik_jobs "
                      . "WHERE payload->>'testRun' = '$run' "
                      . "AND payload->>'seq' = '$s'");
}

sub webhook_server {
    return TrackTikTest::Nginx->start(
        workers => 1,
        master => 1,
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=2;},
        server => <<"CONF");
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
        }
CONF
}

# LOCK TABLE tracktik_jobs from a connection of its own for $seconds;
# returns once the lock is held, with the pid of the psql holding it
sub lock_jobs {
    my ($seconds) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec('psql', '-X', '-q', '-At', '-d', tt_dsn(), '-c',
             "BEGIN; LOCK TABLE tracktik_jobs; SELECT pg_sleep($seconds); "
             . "COMMIT;")
            or POSIX::_exit(127);
    }
    my $deadline = time + 10;
    while (time < $deadline) {
        my $held = tt_sql("SELECT count(*) FROM pg_locks l "
                          . "JOIN pg_class c ON c.oid = l.relation "
                          . "WHERE c.relname = 'tracktik_jobs' "
                          . "AND l.mode = 'AccessExclusiveLock' "
                          . "AND l.granted");
        return $pid if $held;
        sleep 0.05;
    }
    die "could not lock tracktik_jobs";
}

# POST in a child process that waits at most $timeout seconds for the
# answer; collect() gives (seq, status), status 599 when it gave up
sub post_async {
    my ($url, $s, $body, $timeout) = @_;
    my $file = $tmp->dirname . "/result.$s";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $res = HTTP::Tiny->new(keep_alive => 0, timeout => $timeout)
            ->request('POST', $url, {
                content => $body,
                headers => {
                    'Content-Type' => 'application/json',
                    'TrackTik-Subscription-Secret' =>
                        tt_hmac_hex('sha512', $secret, $body),
                },
            });
        open my $fh, '>', $file or POSIX::_exit(1);
        print $fh $res->{status};
        close $fh;
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file, seq => $s };
}

sub collect {
    my ($h) = @_;
    waitpid $h->{pid}, 0;
    open my $fh, '<', $h->{file} or return ($h->{seq}, 0);
    my $status = <$fh>;
    close $fh;
    return ($h->{seq}, 0 + ($status // 0));
}

END {
    # whatever happened, leave PostgreSQL running for the other suites
    eval { tt_pg('start') };
}

subtest 'clients give up while their group is being prepared' => sub {
    my $n = webhook_server();
    my $url = $n->url('/webhooks/tracktik');
    my @workers = $n->worker_pids;

    # fresh connections: each group size is PREPAREd before it runs, and
    # the PREPARE waits behind the lock while the clients go away
    my $locker = lock_jobs(4);

    my @posts;
    for (1 .. 12) {
        my ($s, $body) = delivery(300_000);
        push @posts, post_async($url, $s, $body, 1);
        sleep 0.05;
    }

    my %status = map { collect($_) } @posts;
    is scalar(grep { $_ == 599 } values %status), 12,
        'every client gave up after a second';

    waitpid $locker, 0;

    # the groups finish (or are dropped) once the lock is gone
    my ($s, $body) = delivery();
    my $h = post_async($url, $s, $body, 20);
    my (undef, $status) = collect($h);
    is $status, 202, 'a delivery after the lock is released is queued';
    $status{$s} = $status;

    for my $k (sort { $a <=> $b } keys %status) {
        next unless $status{$k} == 202;
        is rows_with_seq($k), 1, "delivery $k answered 202 has its row";
    }

    my $log = $n->error_log;
    unlike $log, qr/exited on signal/, 'no nginx worker exited on a signal';
    is_deeply [$n->worker_pids], \@workers, 'the same worker process';

    # a signed JSON body PostgreSQL refuses is bytes that were not the
    # delivery's: memory freed with its request went on the wire
    unlike $log, qr/PostgreSQL query failed/,
        'every group sent the bytes it was given';
    diag $log unless Test::More->builder->is_passing;
    $n->stop;
};

done_testing();
