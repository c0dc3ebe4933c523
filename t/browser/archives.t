#!/usr/bin/perl
# The archives page in a real browser (t/browser/archives.spec.mjs,
# headless Debian chromium driven by playwright-core, as portal.t): this
# wrapper starts nginx with the portal, its API and the attachment
# store's internal location, makes two clients' incidents, a user of
# each and an operator in PostgreSQL, and an archive of the other client
# the first client's user must not see; the browser script requests an
# archive, runs `tracktik-worker archive build --once` as the queue's
# worker would, and checks the page and the downloaded zip.  Each of its
# checks becomes a TAP test.  Screenshots: t/browser/output/archives-*.png.
#
# Skipped only when /usr/bin/chromium or node is missing (scripts/deps.sh
# installs both); a missing node_modules/playwright-core is a failure.

use strict;
use warnings;

use lib 't/worker/lib';
use File::Path qw(make_path);
use File::Temp ();
use IPC::Run ();
use JSON::PP ();
use Test::More;

use TrackTikFixture;
use TrackTikTest;
use TTWorker;

my $repo = tt_repo();
my $chromium = $ENV{TT_CHROMIUM} || '/usr/bin/chromium';
my $node = `sh -c 'command -v node' 2>/dev/null`;
chomp $node;

plan skip_all => "$chromium is not installed (scripts/deps.sh installs it)"
    unless -x $chromium;
plan skip_all => 'node is not installed (scripts/deps.sh installs it)'
    unless $node ne '';

if (!-f "$repo/node_modules/playwright-core/package.json") {
    fail('playwright-core is installed (run `npm ci` in the repository)');
    done_testing();
    exit;
}

my $dsn = tt_dsn();
my $worker = TTWorker::binary();

# ids no other suite shares, below 2^53 so JavaScript reads them exactly
my $run = (time() % 1_000_000) * 1000 + $$ % 1000;
my ($A, $B) = (800_000_000_000 + $run, 800_500_000_000 + $run);
my ($A1, $B1) = ($run * 10 + 1, $run * 10 + 2);
my $password = 'correct horse battery ' . $run;
my %email = (a => "arch-a-$run\@client-a.example",
             b => "arch-b-$run\@client-b.example",
             ops => "arch-ops-$run\@guards.example");

# approved incidents: two of A in the period, one of B
sub ledger {
    my ($report, $client, $site, $day) = @_;
    my $r = TrackTikFixture::json('ledger/confidential-fields.json');
    my $raw = TrackTikFixture::encode({ %$r, id => $report,
        account => { id => $site, name => "Site $site" } });
    $raw =~ s/'/''/g;
    tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
           . "occurred_at, client_id, site_id, severity, category, "
           . "report_template, status, time_zone, raw, raw_sha256) VALUES "
           . "('browser-archive:$report:1', $report, 1, '$day 12:00Z', "
           . "$client, $site, 'HIGH', 'After hours dispatch', "
           . "'Incident Report', 'APPROVED', 'UTC', '$raw', 'x')");
}
ledger($run * 1000 + 1, $A, $A1, '2026-03-02');
ledger($run * 1000 + 2, $A, $A1, '2026-03-20');
ledger($run * 1000 + 3, $B, $B1, '2026-03-05');

tt_sql("SELECT portal_user_add('$email{a}', '$password', 'client', $A, "
       . "NULL)");
tt_sql("SELECT portal_user_add('$email{b}', '$password', 'client', $B, "
       . "NULL)");
tt_sql("SELECT portal_user_add('$email{ops}', '$password', 'operator', "
       . "NULL, NULL)");
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

# B's archive, failed (so the build leaves it): listed to the operator,
# never to A's user
my $b_archive = tt_sql("INSERT INTO tracktik_archives (client_id, "
    . "period_from, period_to, state, error, finished_at) VALUES ($B, "
    . "'2026-03-01', '2026-03-31', 'failed', 'browser test', now()) "
    . "RETURNING id");

my $tmp = File::Temp->newdir('tt-browser-archive-XXXXXX', TMPDIR => 1);
my $store = "$tmp/store";
make_path($store);
chmod 0755, "$tmp", $store;

my $secret = "$tmp/session.secret";
open my $fh, '>', $secret or die "$secret: $!";
print $fh join('', map { sprintf '%02x', int rand 256 } 1 .. 32), "\n";
close $fh;

# the portal's locations, as conf/nginx.run.conf.in has them
my $csp = "default-src 'none'; script-src 'self'; style-src 'self'; "
        . "img-src 'self'; connect-src 'self'; form-action 'self'; "
        . "base-uri 'none'; frame-ancestors 'none'";
my $nginx = TrackTikTest::Nginx->start(
    http   => qq{tracktik_postgres "$dsn" pool=2;},
    server => <<"CONF");
        tracktik_session_secret_file $secret;

        location /portal/api/ {
            tracktik_portal_api;
        }

        location /portal/ {
            root $repo;
            types {
                text/html               html;
                text/css                css;
                text/javascript         js;
                image/svg+xml           svg;
            }
            tracktik_portal_auth on;
            add_header Content-Security-Policy "$csp" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy same-origin always;
            add_header Cache-Control no-cache always;

            location = /portal/login.html {
                tracktik_portal_auth off;
            }

            location /portal/assets/ {
                tracktik_portal_auth off;
            }
        }

        location /_tracktik_attachments/ {
            internal;
            alias $store/;
        }
CONF

my $json = JSON::PP->new->canonical(1);
my $fixture = {
    password   => $password,
    email      => \%email,
    client_a   => $A,
    client_b   => $B,
    b_archive  => $b_archive + 0,
    from       => '2026-03-01',
    to         => '2026-03-31',
    incidents  => 2,
    worker     => [ $worker, 'archive', 'build', '--once',
                    '--attachment-dir', $store, '--dsn', $dsn ],
};

my $output = "$repo/t/browser/output";
make_path($output);
unlink glob "$output/archives-*.png";

my ($out, $err) = ('', '');
local $ENV{PORTAL_URL} = 'http://127.0.0.1:' . $nginx->port;
local $ENV{TT_FIXTURE} = $json->encode($fixture);
local $ENV{TT_OUTPUT_DIR} = $output;
local $ENV{TT_CHROMIUM} = $chromium;
local $ENV{TZ} = 'UTC';
# a guard against a hung browser only; no check depends on it
my $ok = eval {
    IPC::Run::run([ $node, "$repo/t/browser/archives.spec.mjs" ], \undef,
                  \$out, \$err, IPC::Run::timeout(300));
};
my $why = $@;

my ($n, $ended) = (0, 0);
for my $line (split /\n/, $out) {
    if ($line =~ /^TT-RESULT (\{.*\})\s*$/) {
        my $r = $json->decode($1);
        $n++;
        ok($r->{ok}, $r->{name}) or diag($r->{diag} // '');
    } elsif ($line eq 'TT-END') {
        $ended = 1;
    } elsif ($line ne '') {
        note($line);
    }
}

ok($ended, "the browser script went through every step ($n checks)");
ok(!$why && $ok, 'node exited cleanly')
    or diag("node: " . ($why || "exit status $?") . "\n$err");
if (!$ended || !$ok) {
    diag("nginx error log:\n" . $nginx->error_log);
}

$nginx->stop;
done_testing();
