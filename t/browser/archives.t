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

use FindBin;
use lib "$FindBin::Bin/lib";
use lib "$FindBin::Bin/../worker/lib";
use File::Path qw(make_path);
use File::Temp ();
use Test::More;

use TrackTikTest;
use TTBrowser;
use TTWorker;

my $repo = tt_repo();
my ($node, $chromium) = TTBrowser::require_browser();
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

# approved incidents: two of A in the period, one of B; the raw entity
# holds what the archive reads of it (the site's name, no fields)
tt_sql(<<"SQL");
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    client_id, site_id, severity, category, report_template, status,
    time_zone, raw, raw_sha256)
SELECT 'browser-archive:' || r, r, 1, d, c, s, 'HIGH', 'After hours dispatch',
       'Incident Report', 'APPROVED', 'UTC',
       jsonb_build_object('id', r, 'reportFields', '[]'::jsonb,
                          'account', jsonb_build_object('id', s,
                                                        'name', 'Site ' || s)),
       'x'
  FROM (VALUES (${run}001, $A, $A1, '2026-03-02 12:00Z'::timestamptz),
               (${run}002, $A, $A1, '2026-03-20 12:00Z'),
               (${run}003, $B, $B1, '2026-03-05 12:00Z')) v (r, c, s, d)
SQL

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

my $secret = tt_write_file("$tmp/session.secret",
    join('', map { sprintf '%02x', int rand 256 } 1 .. 32) . "\n");

my $nginx = TrackTikTest::Nginx->start(
    http   => qq{tracktik_postgres "$dsn" pool=2;},
    server => TTBrowser::portal_server(secret => $secret, store => $store));

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

TTBrowser::run_spec(spec => "$repo/t/browser/archives.spec.mjs",
                    node => $node, chromium => $chromium, nginx => $nginx,
                    fixture => $fixture, output => $output);

$nginx->stop;
done_testing();
