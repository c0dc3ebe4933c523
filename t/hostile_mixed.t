# Hostile traffic against one nginx serving the webhook and the portal:
# senders that stop at every stage of a delivery (headers only, mid-body,
# right after the body, while the COMMIT waits behind a lock, chunked or
# not, many at once); PostgreSQL killed and restarted and nginx reloaded
# during a burst of deliveries and portal requests; and the memory of a
# worker across a long loop of such requests.  The rules: no worker
# exits on a signal or logs an alert, workers are only replaced by a
# reload, every delivery answered 202 has its job row (the same id), a
# delivery never sent whole has none, and memory stays flat.

use strict;
use warnings;

use lib 't/helper';
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikHostile;
use TrackTikTest;

my $h = TrackTikHostile->new;
$h->portal_client(2500);

# the stages at which a sender gives up; each returns the socket, which
# the caller closes (at once, or after a lock is released)
my %stage = (
    headers => sub {
        my ($text, $body) = @_;
        return substr $text, 0, length($text) - length($body);
    },
    mid_body => sub {
        my ($text, $body) = @_;
        return substr $text, 0, length($text) - int(length($body) / 2);
    },
    whole => sub { $_[0] },
);

sub send_stage {
    my ($port, $stage, %opt) = @_;
    my ($s, $body, $headers) = $h->delivery($opt{size});
    my $text = $h->webhook_request($body, $headers, %opt);
    my $sock = hostile_connect($port);
    print $sock $stage{$stage}->($text, $body);
    return ($s, $sock);
}

# a delivery sent whole and its answer: (seq, status, job id)
sub deliver {
    my ($port, %opt) = @_;
    my ($s, $sock) = send_stage($port, 'whole', %opt);
    my ($status, $text) = hostile_answer($sock, 30);
    my ($job) = $text =~ /"job":(\d+)/;
    return ($s, $status, $job);
}

# every delivery answered 202 has its row, with the id it was told
sub check_acked {
    my ($acked, $what) = @_;
    my $jobs = $h->jobs;
    my @wrong = grep { ($jobs->{$_} // 0) != $acked->{$_} } keys %$acked;
    is scalar(@wrong), 0, "$what: each of the " . keys(%$acked)
        . " deliveries answered 202 has its job row with the same id"
        or diag "seq => told / stored: " . join ', ',
            map { "$_ => $acked->{$_} / " . ($jobs->{$_} // 'none') }
                @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)];
}

sub check_log {
    my ($n, $what) = @_;
    my @problems = hostile_log_problems($n->error_log);
    is_deeply \@problems, [], "$what: no signal, alert, sanitizer report "
        . "or unclean exit in the error log";
}

subtest 'senders that give up at every stage of a delivery' => sub {
    my $n = $h->nginx(workers => 2);
    my $port = $n->port;
    my @workers = $n->worker_pids;
    my (%acked, %truncated, %left);

    # many at once: each stage, plain and chunked, 8 of each
    my @socks;
    for my $chunked (0, 1) {
        for my $stage (qw(headers mid_body whole)) {
            for (1 .. 8) {
                my ($s, $sock) = send_stage($port, $stage,
                                            chunked => $chunked,
                                            size => 3000);
                ($stage eq 'whole' ? \%left : \%truncated)->{$s} = 1;
                push @socks, $sock;
            }
        }
    }
    close $_ for @socks;

    # while the job table is locked: the groups wait for their COMMIT
    # (and fresh connections for their PREPARE); most senders leave, a
    # few wait for the answer
    my $lock = hostile_lock('tracktik_jobs');
    @socks = ();
    for my $i (1 .. 16) {
        my ($s, $sock) = send_stage($port, 'whole', chunked => $i % 2);
        $left{$s} = 1;
        push @socks, $sock;
    }
    my @patient = map {
        [send_stage($port, 'whole', chunked => $_ % 2)]
    } 1 .. 4;
    sleep 0.5;
    close $_ for @socks;
    hostile_unlock($lock);
    for my $p (@patient) {
        my ($status, $text) = hostile_answer($p->[1], 30);
        my ($job) = $text =~ /"job":(\d+)/;
        is $status, 202, "a sender that waited out the lock gets 202";
        $acked{$p->[0]} = $job if $status == 202;
    }

    # afterwards every sender is served
    for my $i (1 .. 10) {
        my ($s, $status, $job) = deliver($port, chunked => $i % 2);
        is $status, 202, "delivery $s after the hostile ones: 202";
        $acked{$s} = $job if $status == 202;
    }

    sleep 0.5;
    check_acked(\%acked, 'stages');
    my $jobs = $h->jobs;
    is_deeply [grep { $jobs->{$_} } sort keys %truncated], [],
        'no delivery cut short before its end has a job row';
    note scalar(grep { $jobs->{$_} } keys %left) . ' of ' . keys(%left)
        . ' whole deliveries whose sender left were stored';
    check_log($n, 'stages');
    is_deeply [$n->worker_pids], \@workers, 'the same workers';
    $n->stop;
};

# a child that sends requests until $stop exists, one line per answer
sub client {
    my ($log, $stop, $body) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    open my $out, '>>', $log or POSIX::_exit(1);
    $out->autoflush(1);
    my $i = 0;
    while (!-e $stop) {
        my @line = eval { $body->(++$i) };
        print $out "@line\n" if @line;
    }
    POSIX::_exit(0);
}

subtest 'PostgreSQL killed and nginx reloaded during a burst of '
        . 'deliveries and portal requests' => sub {
    my $n = $h->nginx(workers => 2);
    my $port = $n->port;
    my $dir = $h->dir;
    my $stop = "$dir/burst.stop";
    my @kids;

    # senders: 'd <seq> <status> <job>'
    for my $c (1 .. 3) {
        push @kids, client("$dir/burst.d$c", $stop, sub {
            my ($s, $status, $job) = deliver($port, chunked => $_[0] % 2);
            return ('d', $s, $status, $job // 0);
        });
    }
    # the portal: pages read whole, exports and streams left early
    push @kids, client("$dir/burst.p", $stop, sub {
        my ($i) = @_;
        my $path = ('incidents?limit=20', 'incidents.csv', 'events')[$i % 3];
        my $sock = hostile_connect($port);
        print $sock $h->portal_request($path);
        if ($i % 3 == 0) {
            my ($status) = hostile_answer($sock, 30);
            return ('p', $path, $status);
        }
        my $got = hostile_read($sock, 3000, 5, qr/\r\n\r\n/);
        close $sock;
        sleep 0.02;
        return ('p', $path, $got =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0);
    });
    # and a sender that always gives up half-way
    push @kids, client("$dir/burst.h", $stop, sub {
        my ($s, $sock) = send_stage($port,
                                    $_[0] % 2 ? 'mid_body' : 'headers');
        close $sock;
        sleep 0.01;
        return ('h', $s);
    });

    my $count = sub {
        my ($kind, $status) = @_;
        my $k = 0;
        for my $f (glob "$dir/burst.*") {
            open my $in, '<', $f or next;
            while (<$in>) {
                my @f = split;
                next unless $f[0] eq $kind;
                $k++ if $f[-1] eq $status
                        || ($kind eq 'd' && $f[2] eq $status);
            }
        }
        return $k;
    };
    my $wait_for = sub {
        my ($kind, $status, $k) = @_;
        my $deadline = time + 30;
        while (time < $deadline) {
            return 1 if $count->($kind, $status) >= $k;
            sleep 0.1;
        }
        return 0;
    };

    # each step, then the answers that show the burst went on after it
    my %action = (
        reload => sub { $n->reload },
        kill => sub { tt_pg('kill') },
        start => sub { tt_pg('start') },
    );
    my @steps = (
        [undef,  d => 202, 50, 'deliveries are acknowledged'],
        [reload => d => 202, 50, '... and after a reload'],
        [kill   => d => 503, 10, 'refused with 503 while PostgreSQL is down'],
        [reload => d => 503, 10, '... and after a reload during the outage'],
        [start  => d => 202, 50, 'acknowledged again once it is back'],
        [reload => p => 200, 10, 'the portal answers after the last reload'],
        [undef,  d => 202, 50, '... and so does the webhook'],
    );
    my $master = $n->pid;
    for my $step (@steps) {
        my ($do, $kind, $status, $more, $what) = @$step;
        $action{$do}->() if $do;
        ok $wait_for->($kind, $status, $count->($kind, $status) + $more),
            $what;
    }
    my $reloads = grep { ($_->[0] // '') eq 'reload' } @steps;

    open my $fh, '>', $stop or die $!;
    close $fh;
    waitpid $_, 0 for @kids;

    my (%acked, %status, %portal);
    for my $f (glob "$dir/burst.*") {
        open my $in, '<', $f or next;
        while (<$in>) {
            my @f = split;
            if ($f[0] eq 'd') {
                $status{$f[2]}++;
                $acked{$f[1]} = $f[3] if $f[2] == 202;
            } elsif ($f[0] eq 'p') {
                $portal{$f[2]}++;
            }
        }
    }
    note 'deliveries: ' . join(', ', map { "$_ x $status{$_}" }
                                     sort keys %status);
    note 'portal: ' . join(', ', map { "$_ x $portal{$_}" }
                                 sort keys %portal);
    is_deeply [grep { $_ != 202 && $_ != 503 } keys %status], [],
        'every delivery was answered 202 or 503';
    is_deeply [grep { $_ != 200 && $_ != 503 } keys %portal], [],
        'every portal request was answered 200 or 503';
    check_acked(\%acked, 'burst');
    check_log($n, 'burst');
    is $n->pid, $master, 'the same master';
    is hostile_workers_started($n->error_log), 2 * (1 + $reloads),
        'workers were started only at start and by the reloads';
    $n->stop;
};

# The memory of one worker after a warm-up, and after 2,000 more hostile
# requests of every kind.  After the warm-up malloc's caches and nginx's
# connection structures are in place: the growth measured over the 2,000
# is 0 kB (alone and with another suite running).  The bound, 2 MB, is
# about 1 kB per request: a PGresult never cleared or a body pool kept
# is far more; a 2 kB malloc leaked per portal call (tried on purpose)
# grew the worker by 3.3 MB.
subtest 'memory stays flat across 2,000 hostile requests' => sub {
    # AddressSanitizer keeps freed memory in quarantine, so the RSS of a
    # sanitizer build grows whatever the module does; `make test` measures
    plan skip_all => 'RSS means nothing under AddressSanitizer (make test '
                   . 'checks it)'
        if ($ENV{ASAN_OPTIONS} // '') ne '';
    my $n = $h->nginx(workers => 1);
    my $port = $n->port;
    my ($worker) = $n->worker_pids;
    my %acked;

    my @kinds = (
        sub {    # a delivery sent whole and answered
            my ($s, $status, $job) = deliver($port, chunked => $_[0] % 2);
            $acked{$s} = $job if $status == 202;
        },
        sub { close((send_stage($port, 'headers'))[1]) },
        sub { close((send_stage($port, 'mid_body', chunked => 1))[1]) },
        sub { close((send_stage($port, 'whole', chunked => $_[0] % 2))[1]) },
        sub { close((send_stage($port, 'mid_body'))[1]) },
        sub {    # a page, read whole
            my $sock = hostile_connect($port);
            print $sock $h->portal_request('incidents?limit=20');
            hostile_answer($sock, 30);
        },
        sub {    # a page, left before its answer
            my $sock = hostile_connect($port);
            print $sock $h->portal_request('incidents?limit=20');
            close $sock;
        },
        sub {    # an export, left after its first bytes
            my $sock = hostile_connect($port);
            print $sock $h->portal_request('incidents.csv');
            hostile_read($sock, 3000, 5);
            close $sock;
        },
        sub {    # a stream, left once open
            my $sock = hostile_connect($port);
            print $sock $h->portal_request('events');
            hostile_read($sock, 1000, 5, qr/retry: 2000\n/);
            close $sock;
        },
        sub {    # a stream, left before it opens
            my $sock = hostile_connect($port);
            print $sock $h->portal_request('events');
            close $sock;
        },
    );
    my $loop = sub {
        my ($count) = @_;
        for my $i (1 .. $count) {
            $kinds[$i % @kinds]->($i);
            # now and then let the abandoned work drain
            sleep 0.05 if $i % 50 == 0;
        }
        sleep 1;
    };

    my $t0 = time;
    $loop->(500);
    my $warm = hostile_rss($worker);
    $loop->(2000);
    my $after = hostile_rss($worker);
    note sprintf 'RSS %d kB after warm-up, %d kB after 2,000 more '
                 . '(%.1f s)', $warm, $after, time - $t0;
    cmp_ok $after - $warm, '<', 2048,
        "the worker grew by less than 2 MB ($warm -> $after kB)";
    check_acked(\%acked, 'memory loop');
    check_log($n, 'memory loop');
    is_deeply [$n->worker_pids], [$worker], 'the same worker';
    $n->stop;
};

END {
    # whatever happened, leave PostgreSQL running for the other suites
    eval { tt_pg('start') };
}

done_testing();
