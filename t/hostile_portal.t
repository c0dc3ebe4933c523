# The portal API against clients that go away at every stage of a request
# while PostgreSQL is slow: during a page query held behind a lock, in
# the middle of a CSV export, on an event stream opened and closed over
# and over, and before the answer of a stream's first call.  The rules
# under test: no nginx worker exits on a signal or logs an alert, no
# worker is replaced, and the portal answers normally afterwards.

use strict;
use warnings;

use lib 't/helper';
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikHostile;
use TrackTikTest;

my $h = TrackTikHostile->new;
# enough rows (about 5 MB of CSV) that the socket buffers cannot take the
# whole export at once: later pages are fetched only as the client reads
my $csv_rows = 40000;
$h->portal_client($csv_rows);

my $n = $h->nginx(workers => 2, pool => 1);
my $port = $n->port;
my @workers = $n->worker_pids;

# the whole answer of a request sent on its own connection
sub answer {
    my ($path, %extra) = @_;
    my $s = hostile_connect($port);
    print $s $h->portal_request($path, %extra);
    return hostile_answer($s, 30);
}

# sends the request and leaves without waiting for anything
sub give_up {
    my ($path) = @_;
    my $s = hostile_connect($port);
    print $s $h->portal_request($path);
    close $s;
}

sub healthy {
    my ($what) = @_;
    my ($status, $text) = answer('incidents?limit=5');
    is $status, 200, "$what: a page is answered 200 afterwards";
    my @problems = hostile_log_problems($n->error_log);
    is_deeply \@problems, [], "$what: no signal, alert or sanitizer report";
    is_deeply [$n->worker_pids], \@workers, "$what: the same workers";
}

subtest 'the portal answers before anything hostile happens' => sub {
    my ($status, $text) = answer('incidents?limit=5');
    is $status, 200, 'a page of incidents';
    ($status, $text) = answer('incidents.csv');
    is $status, 200, 'the CSV export';
    my $lines = () = $text =~ /\r\n\d+,1,/g;
    is $lines, $csv_rows, "... with all $csv_rows rows over several pages";
};

subtest 'clients leave while their query waits behind a lock' => sub {
    my $lock = hostile_lock('incidents_ledger');
    my @socks;
    for my $path ('incidents?limit=50', 'incidents.csv', 'events', 'stats',
                  'incidents?limit=50', 'incidents.csv', 'events') {
        my $s = hostile_connect($port);
        print $s $h->portal_request($path);
        push @socks, $s;
    }
    # and one that is still there when the deadline passes
    my $patient = hostile_connect($port);
    print $patient $h->portal_request('incidents?limit=3');
    sleep 0.5;
    close $_ for @socks;
    my $text = hostile_read($patient, 100_000, 15);
    like $text, qr{^HTTP/1\.1 503}, 'the one that waited gets 503 at the '
        . 'query deadline';
    hostile_unlock($lock);
    sleep 0.3;
    healthy('abandoned page queries');
};

subtest 'clients leave in the middle of a CSV export' => sub {
    my $t0 = time;
    my $streamed = 0;
    for my $i (1 .. 30) {
        # read a little (the headers, a few rows), then close; every
        # third one waits a moment so the next page is being fetched
        my $s = hostile_connect($port);
        print $s $h->portal_request('incidents.csv');
        my $got = hostile_read($s, 2000 + 500 * ($i % 7), 5);
        sleep 0.1 unless $i % 3;
        close $s;
        $streamed++ if $got =~ /\r\n\r\n.*\r\n\d+,1,/s;
    }
    is $streamed, 30, 'every export had begun to stream when its client '
        . 'left';
    # and some leave before the first page is there
    give_up('incidents.csv') for 1 .. 10;
    sleep 0.5;
    healthy('abandoned CSV exports');
    note sprintf 'took %.1f s', time - $t0;
};

subtest 'event streams opened and closed over and over' => sub {
    my $opened = 0;
    # a resumption after an event a little in the past (not from 0: that
    # is one message of all 6,000 incidents, seconds of PostgreSQL)
    my $recent = tt_sql("SELECT max(id) - 20 FROM incidents_ledger");
    for my $i (1 .. 60) {
        my %extra = $i % 10 == 0 ? ('Last-Event-ID' => $recent) : ();
        my $s = hostile_connect($port);
        print $s $h->portal_request('events', %extra);
        # gone before the first answer, right after it, or after polls
        if ($i % 3) {
            my $got = hostile_read($s, 100_000, 5, qr/retry: 2000\n/);
            $opened++ if $got =~ /^HTTP\/1\.1 200.*retry: 2000/s;
            sleep 0.2 if $i % 3 == 2;
        }
        close $s;
        $h->portal_incident if $i % 15 == 0;
    }
    is $opened, 40, 'the streams were open when left';

    # many open at once while events arrive, then all gone together
    my @socks;
    for (1 .. 20) {
        my $s = hostile_connect($port);
        print $s $h->portal_request('events');
        push @socks, $s;
    }
    # every stream has made its first call (which starts from "now")
    my $one = hostile_read($socks[0], 1000, 5, qr/retry: 2000\n/);
    like $one, qr/retry: 2000/, 'the streams are open';
    sleep 0.5;
    $h->portal_incident for 1 .. 3;
    $one = hostile_read($socks[0], 100_000, 5, qr/event: incidents/);
    like $one, qr/event: incidents/, 'an open stream carries the new events'
        or diag $one;
    close $_ for @socks;
    sleep 0.5;
    healthy('abandoned event streams');
};

subtest 'event streams while PostgreSQL is locked, then released' => sub {
    my @socks;
    for (1 .. 6) {
        my $s = hostile_connect($port);
        print $s $h->portal_request('events');
        push @socks, $s;
    }
    sleep 0.3;
    # their polls pile up behind the lock; half the clients leave
    my $lock = hostile_lock('incidents_ledger');
    sleep 0.5;
    close $_ for @socks[0 .. 2];
    sleep 0.5;
    hostile_unlock($lock);
    sleep 0.5;
    close $_ for @socks[3 .. 5];
    sleep 0.3;
    healthy('event streams behind a lock');
};

# a CSV export whose next page cannot be had: the answer is cut (no last
# chunk), so that no client takes a part of the export for all of it
sub export_cut_by {
    my ($what, $before, $after) = @_;
    my $s = hostile_connect($port);
    print $s $h->portal_request('incidents.csv');
    my $text = hostile_read($s, 2000, 5);
    like $text, qr{^HTTP/1\.1 200}, "$what: the export has begun";
    my $state = $before->();
    $text .= hostile_read($s, 50_000_000, 20);
    close $s;
    $after->($state);
    my $rows = () = $text =~ /\r\n\d+,1,/g;
    cmp_ok $rows, '<', $csv_rows, "$what: the export stopped ($rows rows)";
    unlike $text, qr/\r\n0\r\n\r\n\z/,
        "$what: ... without the last chunk that would say it is complete";
}

subtest 'a CSV export cut short by a lock or a PostgreSQL crash' => sub {
    export_cut_by('next page behind a lock',
                  sub { hostile_lock('incidents_ledger') },
                  sub { hostile_unlock($_[0]) });
    my ($cut) = grep { /CSV export stopped/ } split /\n/, $n->error_log;
    ok $cut, 'the cut is logged';
    # the answer that did not come has no body: what the log would show
    # is the page sent before it, from memory already freed (a crash,
    # or a client's incidents in the error log)
    unlike $cut // '', qr/Patrol round|\r|\d+,1,/,
        '... without the bytes of the page before';
    # event streams polling while PostgreSQL goes away
    my @streams = map {
        my $s = hostile_connect($port);
        print $s $h->portal_request('events');
        hostile_read($s, 1000, 5, qr/retry: 2000\n/);
        $s;
    } 1 .. 4;
    export_cut_by('PostgreSQL killed', sub { tt_pg('kill') },
                  sub { tt_pg('start') });
    my $ended = grep { hostile_read($_, 10_000, 1, qr/event: end/)
                       =~ /event: end/ } @streams;
    note "$ended of 4 event streams were ended by the crash";
    close $_ for @streams;
    # each worker reconnects after its backoff
    my $deadline = time + 20;
    my ($status) = (0);
    while ($status != 200 && time < $deadline) {
        sleep 0.2;
        ($status) = answer('incidents?limit=5');
    }
    healthy('cut exports');
};

# those of the worker pids @old still running after at most $secs
sub workers_left {
    my ($secs, @old) = @_;
    my $deadline = time + $secs;
    my @left = @old;
    while (@left && time < $deadline) {
        sleep 0.1;
        @left = grep { my $p = $_; grep { $_ == $p } $n->worker_pids } @old;
    }
    return @left;
}

# Found by this suite: nothing ended a stream when the worker was exiting,
# so an open event stream kept an old worker alive after a reload (or a
# graceful stop) for the stream's whole life, ten minutes.
subtest 'a reload ends the open event streams of the old workers' => sub {
    my @old = $n->worker_pids;
    my $s = hostile_connect($port);
    print $s $h->portal_request('events');
    like hostile_read($s, 1000, 5, qr/retry: 2000\n/), qr/retry: 2000/,
        'a stream is open';
    kill 'HUP', $n->pid;
    my @left = workers_left(5, @old);
    is_deeply \@left, [], 'the old workers exit within 5 s';
    close $s;
    # with the stream gone, the old worker finishes
    @left = workers_left(10, @left);
    is_deeply \@left, [], 'the old workers exit once the client has left';
    @workers = $n->worker_pids;
    healthy('a reload with an open stream');
};

subtest 'portal POSTs abandoned in the middle of their body' => sub {
    my $login = '{"email":"nobody.' . $h->run . '@client-h.test",'
              . '"password":"not the password"}';
    my $half = substr($login, 0, 30);
    # the login reads its body; the others discard it while their query
    # runs (the session check), here held behind a lock
    my @posts = (['login', 0], ['notify/subscriptions?mode=immediate', 1],
                 ['archive?from=2026-01-01&to=2026-02-01', 1]);
    for my $locked (0, 1) {
        my $lock = $locked ? hostile_lock('portal_sessions') : undef;
        for my $i (1 .. 12) {
            my ($path, $session) = @{ $posts[$i % 3] };
            my $s = hostile_connect($port);
            print $s $h->portal_post($path, $half, length => 300,
                                     session => $session);
            # gone at once, or after nginx has waited a moment
            sleep 0.1 if $i % 2;
            close $s;
        }
        sleep 0.3;
        hostile_unlock($lock) if $lock;
    }
    # a body that comes in two parts is still answered
    my $s = hostile_connect($port);
    print $s $h->portal_post('login', $half, length => length $login);
    sleep 0.5;
    print $s substr($login, 30);
    my ($status) = hostile_answer($s, 10);
    is $status, 401, 'a login body sent in two parts is answered (401)';
    # ... and chunked (nginx ends such a body with an empty buffer)
    (my $chunked = $h->portal_post('login', ''))
        =~ s/Content-Length: 0/Transfer-Encoding: chunked/;
    $s = hostile_connect($port);
    print $s $chunked . sprintf("%x\r\n%s\r\n", 30, $half);
    sleep 0.5;
    print $s sprintf("%x\r\n%s\r\n0\r\n\r\n", length($login) - 30,
                     substr($login, 30));
    ($status) = hostile_answer($s, 10);
    is $status, 401, '... and so is one sent chunked, in two chunks';
    $s = hostile_connect($port);
    print $s $h->portal_post('archives', '', session => 1);
    ($status) = hostile_answer($s, 10);
    is $status, 405, '... and so is a POST with a session';
    healthy('abandoned POST bodies');
};

# a reload (HUP) while the old workers are in the middle of answers: they
# finish them, then exit
sub old_workers_exit {
    my ($what, @old) = @_;
    is_deeply [workers_left(15, @old)], [], "$what: the old workers exit";
    @workers = $n->worker_pids;
}

subtest 'a reload during a CSV export' => sub {
    my @old = $n->worker_pids;
    my $s = hostile_connect($port);
    print $s $h->portal_request('incidents.csv');
    # the client reads nothing yet: nginx fills the sockets' buffers and
    # holds the rest (found by this test: with no send_timeout timer on
    # the held page, the exiting worker saw no timer left and closed the
    # export half sent, "open socket left in connection")
    sleep 1;
    kill 'HUP', $n->pid;
    sleep 1;
    my $text = hostile_read($s, 50_000_000, 30);
    like $text, qr{^HTTP/1\.1 200}, 'the export was answered';
    close $s;
    my $rows = () = $text =~ /\r\n\d+,1,/g;
    # the export's rows and the incidents the event subtests added
    my $all = tt_sql("SELECT count(*) FROM incidents_ledger "
                     . "WHERE client_id = ${\ $h->client }");
    cmp_ok $all, '>=', $csv_rows, "the client has $all incidents";
    is $rows, $all, "the old worker finishes the export: all $all rows";
    like $text, qr/\r\n0\r\n\r\n\z/, '... and the last chunk';
    old_workers_exit('a CSV export', @old);
    healthy('a reload during a CSV export');
};

subtest 'a reload during a page query held behind a lock' => sub {
    my @old = $n->worker_pids;
    my $lock = hostile_lock('incidents_ledger');
    my $patient = hostile_connect($port);
    print $patient $h->portal_request('incidents?limit=3');
    my @gone = map {
        my $s = hostile_connect($port);
        print $s $h->portal_request('incidents?limit=3');
        $s;
    } 1 .. 4;
    sleep 0.3;
    kill 'HUP', $n->pid;
    sleep 0.5;
    close $_ for @gone;
    sleep 0.3;
    hostile_unlock($lock);
    my ($status, $text) = hostile_answer($patient, 10);
    is $status, 200, 'the query waiting in an old worker is answered';
    like $text, qr/"items" ?: ?\[\{"id" ?: ?\d+/, '... with its page';
    old_workers_exit('a page query', @old);
    healthy('a reload during a locked page query');
};

# A portal query slow with no lock in the way: a wrapper of
# portal_api_session() that sleeps first, in a schema of this run that
# only the second nginx's portal pool has on its search_path.
subtest 'a portal query slow by pg_sleep alone' => sub {
    my $schema = 'hostile_slow_' . $h->run;
    tt_sql("CREATE SCHEMA $schema; CREATE FUNCTION $schema.portal_api_session("
           . "p_token text) RETURNS portal_answer LANGUAGE sql AS \$\$ "
           . "SELECT pg_sleep(6); "
           . "SELECT * FROM public.portal_api_session(p_token) \$\$");
    my $session = $h->session_secret_file;
    my $slow = TrackTikTest::Nginx->start(
        http => qq{tracktik_postgres "\$TRACKTIK_DSN" pool=1;\n}
              . qq{tracktik_portal_postgres "\$TRACKTIK_DSN }
              . qq{options='-c search_path=$schema,public'" pool=2 }
              . qq{query_timeout=2s;},
        server => "tracktik_session_secret_file $session;\n"
                . "location /portal/api/ { tracktik_portal_api; }\n");
    my $t0 = time;
    my $patient = hostile_connect($slow->port);
    print $patient $h->portal_request('me');
    my $gone = hostile_connect($slow->port);
    print $gone $h->portal_request('me');
    sleep 0.5;
    is hostile_running('%portal_api_session%'), 2,
        'both queries sleep on the server';
    close $gone;
    my ($status) = hostile_answer($patient, 10);
    is $status, 503, 'the client that waited gets 503 at the query deadline';
    my $stopped = hostile_until_none('%portal_api_session%', $t0, 8);
    ok defined $stopped && $stopped < 4,
        sprintf('both stop on the server at statement_timeout (%s)',
                defined $stopped ? sprintf('%.1f s', $stopped) : 'not yet');
    my $s = hostile_connect($slow->port);
    print $s $h->portal_request('incidents?limit=5');
    ($status) = hostile_answer($s, 10);
    is $status, 200, 'another route of the same pool answers afterwards';
    $slow->stop;
    tt_sql("DROP SCHEMA $schema CASCADE");
    is_deeply [hostile_log_problems($slow->error_log)], [],
        'no signal, alert or sanitizer report';
};

$n->stop;

END {
    # whatever happened, leave PostgreSQL running for the other suites
    eval { tt_pg('start') };
}

done_testing();
