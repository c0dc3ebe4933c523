# The login throttle (sql/functions/logins.sql) and its housekeeping:
# guesses are slowed down, never allowed to lock the owner out; an
# address is the client's /32 or /64, read through nginx's realip module
# behind a trusted proxy; each attempt is recorded by the statement that
# lets it through, so concurrent guesses cannot all pass; logins refused
# with 503 count; tracktik_portal_prune() deletes dead sessions and old
# attempts in bounded batches.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use Test::More;
use Time::HiRes qw(sleep time);
use TrackTikLogin;
use TrackTikTest;

my $run = time() =~ s/\.//r . $$;
my $password = "throttle-test password $$";
my $client = $$ * 10 + 5;
# the client addresses this suite uses: attempts left there by an earlier
# run would throttle this one
tt_sql("DELETE FROM portal_login_failures WHERE ip LIKE ANY (ARRAY["
       . "'10.%', '198.51.100.%', '203.0.113.%', '198.18.%', '198.19.%', "
       . "'100.64.%', '2001:db8:2:%'])");

sub account {
    my ($name) = @_;
    my $email = "$name.$run\@client.test";
    tt_sql("SELECT portal_user_add('$email', '$password', 'client', "
           . "$client, NULL)");
    return $email;
}

my $tmp = File::Temp->newdir('tt-throttle-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/session.secret';
tt_write_file($secret_file, "session-secret-$run-0123456789abcdef\n");

my $ngx = TrackTikLogin::nginx($secret_file);

my $url = $ngx->url('/portal/api/login');

sub creds { TrackTikLogin::creds(@_) }

sub headers {
    my ($from) = @_;
    return { 'Content-Type' => 'application/json',
             'Origin' => 'http://127.0.0.1:' . $ngx->port,
             defined $from ? ('X-Forwarded-For' => $from) : () };
}

# (status, Retry-After) of a login from the client address $from
sub login {
    my ($email, $pw, $from) = @_;
    my ($st, $head) = tt_post($url, creds($email, $pw), headers($from));
    return ($st, $head->{'retry-after'});
}

sub send_login { TrackTikLogin::send($ngx, @_) }

sub read_status { (TrackTikLogin::response(@_))[0] }

sub attempts {
    my ($where) = @_;
    return 0 + tt_sql("SELECT count(*) FROM portal_login_failures "
                      . "WHERE $where");
}

subtest 'guesses from elsewhere do not lock the owner out' => sub {
    my $email = account('owner');
    my @attackers = map { "10.9.0.$_" } 1 .. 12;

    my @first = map { (login($email, "guess $_", $_))[0] } @attackers;
    is_deeply \@first, [(401) x 12],
        'a first guess from each of 12 addresses is checked (401)';

    my ($st, $wait) = login($email, 'another guess', $attackers[0]);
    is $st, 429, 'a second guess from one of them waits (429)';
    # 12 attempts in the hour: 2^(12 - 5) seconds after the latest
    ok defined $wait && $wait >= 120 && $wait <= 128,
        "... for about 2^7 s, told by Retry-After ($wait)";

    ($st) = login($email, $password, "198.51.100.1");
    is $st, 200, 'the owner, from an address of no failed login, logs in';
    ($st) = login($email, 'a wrong one', "198.51.100.1");
    is $st, 401, '... and a typo there is checked like any login';
};

subtest 'the account delay doubles with each attempt, up to 15 minutes' => sub {
    # attempts on the account from many addresses, made in SQL; the
    # address asking has an attempt of its own in the last hour
    my $from = "203.0.113.1";
    for my $case ([5, 1], [6, 2], [8, 8], [14, 512], [15, 900], [40, 900]) {
        my ($n, $expect) = @$case;
        my $email = account("delay$n");
        tt_sql("INSERT INTO portal_login_failures (email, ip) "
               . "SELECT '$email', '10.1.$n.' || g "
               . "FROM generate_series(1, $n - 1) g");
        tt_sql("INSERT INTO portal_login_failures (email, ip, at) "
               . "VALUES ('$email', '$from', now() - interval '40 minutes')");
        my ($st, $wait) = login($email, $password, $from);
        is $st, 429, "$n attempts in the hour: 429";
        ok defined $wait && $wait <= $expect && $wait >= $expect - 2,
            "... Retry-After $expect s (" . ($wait // 'none') . ")";
    }
    my $email = account('delayed-owner');
    tt_sql("INSERT INTO portal_login_failures (email, ip) "
           . "SELECT '$email', '10.2.0.' || g "
           . "FROM generate_series(1, 40) g");
    my ($st) = login($email, $password, "203.0.113.2");
    is $st, 200, '40 attempts: the owner from a clean address logs in';
};

subtest 'an IPv6 client is counted by its /64' => sub {
    for my $case (['203.0.113.9', '203.0.113.9'],
                  ['::ffff:203.0.113.9', '203.0.113.9'],
                  ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
                  ['2001:DB8:1:2::', '2001:db8:1:2::/64'],
                  ['unix:', 'unix:']) {
        is tt_sql("SELECT portal_login_net('$case->[0]')"), $case->[1],
            "portal_login_net('$case->[0]') is '$case->[1]'";
    }

    my $prefix = '2001:db8:2:1';
    my @st = map {
        (login("nobody$_.$run\@client.test", 'guess', "$prefix:0:0:0:$_"))[0]
    } 1 .. 30;
    is_deeply \@st, [(401) x 30],
        '30 guesses from 30 addresses of one /64: 401';
    is attempts("ip = '$prefix\::/64'"), 30,
        'they are recorded under the /64';

    my ($st, $wait) = login(account('v6'), $password, "$prefix:ffff::1");
    is $st, 429, 'another address of the /64 waits, even with the right '
                 . 'password';
    ok defined $wait && $wait > 890 && $wait <= 900,
        "... until the first of the 30 is 15 minutes old ($wait)";

    ($st) = login("nobody.$run\@client.test", 'guess',
                  '2001:db8:2:2::1');
    is $st, 401, 'the next /64 is another client';
};

subtest 'behind a trusted proxy the client address is the one counted' => sub {
    my $bad = "198.18.0.7";
    my @st = map {
        (login("nobody$_.$run\@client.test", 'guess', $bad))[0]
    } 1 .. 30;
    is_deeply \@st, [(401) x 30], '30 guesses from one client: 401';
    is attempts("ip = '$bad'"), 30, 'recorded under its address';

    my ($st) = login(account('neighbour'), $password, "198.18.0.8");
    is $st, 200, 'another client behind the same proxy logs in';
    ($st) = login(account('same'), $password, $bad);
    is $st, 429, 'the guessing client waits, for every account';
};

subtest 'concurrent guesses are counted before they are checked' => sub {
    my $email = account('burst');
    my $from = "198.19.0.1";
    my @conns = map { send_login($email, "guess $_", $from) } 1 .. 20;
    my %count;
    $count{ read_status($_) }++ for @conns;
    note join ', ', map { "$_ x $count{$_}" } sort keys %count;

    is $count{401}, 5, '5 of 20 concurrent guesses are checked';
    is $count{429}, 15, 'the other 15 wait (429)';
    is attempts("lower(email) = lower('$email')"), 5,
        '5 attempts recorded';
};

subtest 'logins refused with 503 count as attempts' => sub {
    $ngx->reload(http => <<"HTTP");
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2 query_timeout=1s;
    tracktik_portal_password_cpu 1%;
HTTP
    my $email = account('queue');
    # each from its own address: none is throttled
    my @from = map { "100.64.0.$_" } 1 .. 80;
    my @conns = map { send_login($email, $password, $_) } @from;
    my (%count, @refused);
    for my $i (0 .. $#conns) {
        my $st = read_status($conns[$i]);
        $count{$st}++;
        push @refused, $from[$i] if $st == 503;
    }
    note join ', ', map { "$_ x $count{$_}" } sort keys %count;

    ok scalar(@refused), 'some of 80 logins are refused with 503';
    is attempts("ip IN (" . join(', ', map { "'$_'" } @refused) . ")"),
        scalar(@refused), 'each left its attempt counted';
    like $ngx->error_log, qr/already waiting for their password check/,
        'among them logins the full queue refused';
    like $ngx->error_log, qr/the password check waited too long/,
        'and logins that waited too long';
};

subtest 'tracktik_portal_prune() deletes in bounded batches' => sub {
    # what earlier runs left, in large batches first
    1 while tt_sql("SELECT sessions + failures FROM "
                   . "tracktik_portal_prune(100000)") > 0;

    my $email = account('prune');
    my $user = "(SELECT id FROM portal_users WHERE email = '$email')";
    tt_sql("INSERT INTO portal_sessions (id, user_id, expires_at, "
           . "revoked_at) VALUES "
           . "('p$run-live', $user, now() + interval '1 hour', NULL), "
           . "('p$run-expired1', $user, now() - interval '1 second', NULL), "
           . "('p$run-expired2', $user, now() - interval '2 days', NULL), "
           . "('p$run-expired3', $user, now() - interval '1 hour', NULL), "
           . "('p$run-revoked', $user, now() + interval '1 hour', now())");
    tt_sql("INSERT INTO portal_login_failures (email, ip, at) "
           . "SELECT '$email', 'prune', now() - g * interval '20 minutes' "
           . "FROM generate_series(0, 6) g");

    my ($calls, $over) = (0, 0);
    while (1) {
        my ($s, $f) = split /\|/,
            tt_sql("SELECT * FROM tracktik_portal_prune(2)");
        $calls++;
        $over++ if $s > 2 || $f > 2;
        last if ($s < 2 && $f < 2) || $calls > 10000;
    }
    ok $calls >= 2, "it took several calls of 2 ($calls)";
    is $over, 0, 'no call deleted more than 2 of either';
    is tt_sql("SELECT string_agg(id, ',' ORDER BY id) FROM portal_sessions "
              . "WHERE id LIKE 'p$run-%'"), "p$run-live",
        'expired and revoked sessions are gone, the live one stays';
    # 0, 20 and 40 minutes old stay; 60 (the window's edge) to 120 go
    is attempts("email = '$email'"), 3,
        'attempts older than the throttle\'s hour are gone';

    my $err = eval { tt_sql("SELECT * FROM tracktik_portal_prune(0)"); 1 }
              ? '' : $@;
    like $err, qr/limit must be at least 1/, 'a limit of 0 is refused';
};

unlike $ngx->error_log, qr/\[alert\]|\[emerg\]|exited on signal/,
    'no alert and no crash in the error log';

$ngx->stop;
done_testing();
