#!/usr/bin/perl
# tracktik-worker auth: OAuth2 against the TrackTik simulator.  Logging in
# stores the session in PostgreSQL; refresh tokens are single use, so with
# eight processes racing on an expired token exactly one refreshes; a
# refresh token used up behind the worker's back (a worker killed between
# receiving a new pair and storing it: simulated, then for real with
# kill -9) stops API work with one clear error instead of hammering the
# token endpoint.  No secret reaches any output.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run start timeout);
use TTWorker;
use TTSim;

my $t = TTWorker->new('api_oauth');
my $sim = TTSim->new(repo => TTWorker::repo());
my $url = $sim->url;
my $secret_file = $t->file('client.secret', "demo-secret\n");
my $all_output = '';
my @secrets = ('demo-secret', 'api-password');

sub worker_in {
    my ($stdin, @args) = @_;
    my ($out, $err) = ('', '');
    run([ TTWorker::binary(), @args, '--dsn', $t->dsn ], \$stdin, \$out,
        \$err, timeout(120));
    $all_output .= $out . $err;
    return ($? >> 8, $out, $err);
}

sub login {
    return worker_in("api-password\n", 'auth', 'login', '--url', $url,
                     '--client-id', 'demo', '--client-secret-file',
                     $secret_file, '--username', 'api', '--password-stdin');
}

sub oauth_errors {
    my $c = $sim->state->{counters};
    my $n = 0;
    $n += $c->{$_} for grep { /^oauth\.errors\./ } keys %$c;
    return $n;
}

sub oauth_row {
    my ($r) = $t->rows("SELECT access_token, refresh_token, refresh_count,"
                       . " needs_login_since IS NOT NULL FROM tracktik_oauth");
    return $r;
}

subtest 'auth login: bad input gets a clear error' => sub {
    my ($rc, $out, $err) = worker_in('', 'auth', 'login', '--client-id',
        'demo', '--client-secret-file', $secret_file, '--username', 'api',
        '--password-stdin');
    is $rc, 2, 'no --url: exit 2';
    like $err, qr/auth login needs --url/, 'says so';

    ($rc, $out, $err) = worker_in('', 'auth', 'login', '--url', $url,
        '--client-id', 'demo', '--client-secret-file', $secret_file);
    is $rc, 2, 'no grant: exit 2';
    like $err, qr/exactly one of --username USER --password-stdin or --refresh-token-stdin/,
        'names the choices';

    ($rc, $out, $err) = worker_in('', 'auth', 'login', '--url', 'ftp://x',
        '--client-id', 'demo', '--client-secret-file', $secret_file,
        '--username', 'api', '--password-stdin');
    is $rc, 1, 'not an http(s) URL: exit 1';
    like $err, qr/expected the tenant's base URL/, 'says what is expected';

    ($rc, $out, $err) = worker_in("wrong-password-123\n", 'auth', 'login',
        '--url', $url, '--client-id', 'demo', '--client-secret-file',
        $secret_file, '--username', 'api', '--password-stdin');
    is $rc, 1, 'wrong password: exit 1';
    like $err, qr/login to \Q$url\E failed: HTTP 400: invalid_grant/,
        'TrackTik\'s refusal is shown';
    unlike $err, qr/wrong-password-123/, 'without the password';
    is $t->value("SELECT count(*) FROM tracktik_oauth"), 0, 'nothing stored';

    ($rc, $out, $err) = worker_in('', 'auth', 'check', '--url', $url);
    is $rc, 1, 'auth check without a session: exit 1';
    like $err, qr/no TrackTik session .* auth login/, 'tells how to log in';
};

subtest 'auth login stores the session; auth check and status use it' => sub {
    my ($rc, $out, $err) = login();
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/logged in to \Q$url\E as OAuth client demo/, 'says so';
    my $row = oauth_row();
    ok length($row->[0]) > 20 && length($row->[1]) > 20, 'pair stored';
    is $sim->counter('oauth.password'), 1, 'one password grant';

    ($rc, $out, $err) = worker_in('', 'auth', 'check');
    is $rc, 0, 'auth check (the only tenant, no --url) exits 0' or diag $err;
    like $out, qr/^ok: \Q$url\E answered HTTP 200/m, 'one API call worked';

    ($rc, $out) = worker_in('', 'auth', 'status');
    is $rc, 0, 'auth status exits 0';
    like $out, qr/state\s+ok/, 'session ok';
    is $sim->counter('oauth.refresh_token'), 0, 'no refresh was needed';
};

subtest 'eight processes racing on an expired token: exactly one refresh' => sub {
    my $errors = oauth_errors();
    for my $round (1 .. 3) {
        my ($status) = $sim->admin('POST', '/__sim/tokens/expire');
        is $status, 200, "round $round: every access token expired";
        my @h;
        my @res;
        for my $i (0 .. 7) {
            my ($out, $err) = ('', '');
            $res[$i] = [ \$out, \$err ];
            push @h, start([ TTWorker::binary(), 'auth', 'check', '--dsn',
                             $t->dsn ], \undef, \$out, \$err, timeout(120));
        }
        my $ok = 0;
        for my $i (0 .. 7) {
            $h[$i]->finish;
            $ok++ if $h[$i]->result == 0;
            $all_output .= ${ $res[$i][0] } . ${ $res[$i][1] };
            diag ${ $res[$i][1] } if $h[$i]->result != 0;
        }
        is $ok, 8, "round $round: all eight processes got an answer";
        is $sim->counter('oauth.refresh_token'), $round,
            "round $round: exactly one refresh in total per expiry";
    }
    is oauth_row()->[2], 3, 'the database counted the same three refreshes';
    is $sim->counter('oauth.refresh_reuse'), 0, 'no refresh token reused';
    is oauth_errors(), $errors, 'no OAuth error at all (no invalid_grant)';
};

subtest 'short-lived tokens, eight processes calling repeatedly' => sub {
    # new tokens live 3 s; every process makes a dozen calls
    $sim->config({ access_token_ttl => 3 });
    $sim->admin('POST', '/__sim/tokens/expire');
    my $before = $sim->counter('oauth.refresh_token');
    my $errors = oauth_errors();
    my $loop = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do '
             . '"$0" auth check --dsn "$1" >/dev/null || exit 1; '
             . 'sleep 0.3; done';
    my @h;
    for my $i (0 .. 7) {
        my ($out, $err) = ('', '');
        push @h, [ start([ 'sh', '-c', $loop, TTWorker::binary(), $t->dsn ],
                         \undef, \$out, \$err, timeout(300)), \$err ];
    }
    my $ok = 0;
    for my $w (@h) {
        $w->[0]->finish;
        $ok++ if $w->[0]->result == 0;
        $all_output .= ${ $w->[1] };
        diag ${ $w->[1] } if $w->[0]->result != 0;
    }
    is $ok, 8, 'every call of every process succeeded';
    my $refreshes = $sim->counter('oauth.refresh_token') - $before;
    ok $refreshes >= 1, "tokens were refreshed ($refreshes times)";
    is oauth_row()->[2] - 3, $refreshes,
        'each refresh TrackTik saw was stored: one per expiry, none lost';
    is $sim->counter('oauth.refresh_reuse'), 0, 'no refresh token reused';
    is oauth_errors(), $errors, 'no invalid_grant';
    $sim->config({ access_token_ttl => 3600 });
};

subtest 'a refresh token used up elsewhere: one loud error, no loop' => sub {
    # what a worker killed between receiving a new pair and committing it
    # leaves behind: TrackTik consumed the stored refresh token
    my $stored = oauth_row()->[1];
    my ($status) = $sim->admin('POST', '/rest/oauth2/access_token',
        "grant_type=refresh_token&client_id=demo&client_secret=demo-secret"
        . "&refresh_token=$stored",
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is $status, 200, 'the stored refresh token is consumed behind our back';
    $sim->admin('POST', '/__sim/tokens/expire');
    my $reuse = $sim->counter('oauth.refresh_reuse');
    my $token_calls = $sim->state->{requests}{'POST /rest/oauth2/access_token'};

    my ($rc, $out, $err) = worker_in('', 'auth', 'check');
    is $rc, 1, 'auth check: exit 1';
    like $err, qr/TrackTik refused the stored refresh token \(HTTP 400: invalid_grant/,
        'says what TrackTik answered';
    like $err, qr/API work is stopped: run `tracktik-worker auth login --url \Q$url\E/,
        'tells the operator what to run';
    like $err, qr/if a worker died between receiving a new pair and storing it/,
        'explains the crash case';
    is $sim->counter('oauth.refresh_reuse'), $reuse + 1,
        'the token endpoint was asked once';

    for (1 .. 3) {
        ($rc, undef, $err) = worker_in('', 'auth', 'check');
        is $rc, 1, 'again: exit 1';
        like $err, qr/needs a new login .* auth login/, 'same advice';
    }
    ($rc, undef, $err) = worker_in('', 'billing', 'sync', '--once');
    is $rc, 1, 'billing sync refuses too';
    like $err, qr/billing sync stopped: .*auth login/, 'with the same advice';
    is $sim->state->{requests}{'POST /rest/oauth2/access_token'},
        $token_calls + 1, 'no process asked the token endpoint again';

    ($rc, $out) = worker_in('', 'auth', 'status');
    is $rc, 1, 'auth status: exit 1';
    like $out, qr/NEEDS LOGIN \(run tracktik-worker auth login\)/, 'shows it';

    ($rc, $out, $err) = worker_in("api-password\n", 'auth', 'login',
        '--url', $url, '--username', 'api', '--password-stdin');
    is $rc, 0, 'auth login again (the stored OAuth client is reused)'
        or diag $err;
    ($rc, $out, $err) = worker_in('', 'auth', 'check');
    is $rc, 0, 'API work resumes' or diag $err;
};

subtest 'a pasted refresh token logs in' => sub {
    my $d = $sim->admin('POST', '/rest/oauth2/access_token',
        'grant_type=password&client_id=demo&client_secret=demo-secret'
        . '&username=api&password=api-password',
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    my ($rc, $out, $err) = worker_in("$d->{refresh_token}\n", 'auth',
        'login', '--url', $url, '--refresh-token-stdin');
    is $rc, 0, 'exit 0' or diag $err;
    ($rc) = worker_in('', 'auth', 'check');
    is $rc, 0, 'the session works';
    push @secrets, $d->{refresh_token}, $d->{access_token};
};

subtest 'a worker killed between receiving a refresh and storing it' => sub {
    $sim->admin('POST', '/__sim/tokens/expire');
    my $refreshes = $sim->counter('oauth.refresh_token');
    my $reuse = $sim->counter('oauth.refresh_reuse');
    my $stored = oauth_row()->[2];
    my ($o, $e) = ('', '');
    my $h = start([ TTWorker::binary(), 'auth', 'check',
                    '--api-refresh-hold-ms', '300000', '--dsn', $t->dsn ],
                  \undef, \$o, \$e, timeout(600));
    ok wait_until(sub { $h->pump_nb; $e =~ /event=oauth_refresh_hold/ }, 120),
        'the worker received a new pair and has not stored it yet';
    is $sim->counter('oauth.refresh_token'), $refreshes + 1,
        'TrackTik consumed the refresh token';
    $h->signal('KILL');
    eval { $h->finish };
    $all_output .= $o . $e;
    is oauth_row()->[2], $stored, 'killed: the new pair was never stored';

    my ($rc, $out, $err) = worker_in('', 'auth', 'check');
    is $rc, 1, 'the next API call: exit 1';
    like $err, qr/TrackTik refused the stored refresh token \(HTTP 400: invalid_grant/,
        'TrackTik refuses the consumed token';
    like $err, qr/run `tracktik-worker auth login --url \Q$url\E .*if a worker died between receiving a new pair and storing it, this is the result/,
        'the operator is told to log in again, and why';
    is $sim->counter('oauth.refresh_reuse'), $reuse + 1, 'asked once, no loop';

    ($rc, $out, $err) = worker_in("api-password\n", 'auth', 'login',
        '--url', $url, '--username', 'api', '--password-stdin');
    is $rc, 0, 'auth login' or diag $err;
    ($rc) = worker_in('', 'auth', 'check');
    is $rc, 0, 'and API work resumes';
};

subtest 'no secret in any output' => sub {
    my $row = oauth_row();
    for my $s (@secrets, $row->[0], $row->[1]) {
        ok index($all_output, $s) < 0, 'a secret never appears in the output';
    }
};

done_testing;
