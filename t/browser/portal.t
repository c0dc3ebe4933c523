#!/usr/bin/perl
# The portal in a real browser (t/browser/portal.spec.mjs, headless
# Debian chromium driven by playwright-core): this wrapper starts nginx
# with the module and the portal locations, creates a client user and a
# data set of its own in PostgreSQL (ledger rows, a billing line, a photo
# in an attachment store), runs the browser script and turns each of its
# checks into a TAP test.  Screenshots: t/browser/output/*.png.
#
# Skipped only when /usr/bin/chromium or node is missing (scripts/deps.sh
# installs both); a missing node_modules/playwright-core is a failure
# (`make` runs `npm ci`).

use strict;
use warnings;

use Compress::Zlib qw(compress crc32);
use File::Path qw(make_path);
use File::Temp ();
use IPC::Run ();
use JSON::PP ();
use POSIX qw(strftime);
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use TrackTikFixture;
use TrackTikTest;
use TTBrowser;

my $repo = tt_repo();
my ($node, $chromium) = TTBrowser::require_browser();

tt_dsn();


# a data set no other suite shares: ids derived from the time and pid,
# kept below 2^53 so JavaScript reads them exactly
my $run = (time() % 1_000_000) * 1000 + $$ % 1000;
my $client = 700_000_000_000 + $run;
my $other_client = $client + 500_000_000;
my @sites = ({ id => $run * 10 + 1, name => 'Harbourfront Tower' },
             { id => $run * 10 + 2, name => 'Maple Court Garage' });
my $rid = $run * 1000;
my %report = (photo => $rid + 1, parking => $rid + 2, noise => $rid + 3,
              vandalism => $rid + 4, other => $rid + 5,
              unapproved => $rid + 6, live => $rid + 7,
              filler => $rid + 100);
my $email = "browser-$run\@client.example";
my $password = 'correct horse battery ' . $run;
my $attachment_id = $run * 10 + 1;
my ($png_w, $png_h) = (24, 16);
my $summary = 'Individual found sleeping in stairwell B, level 3.';
my $confidential = 'Informant: night cleaner (internal only)';
my $search_word = 'saxophone';

my $json = JSON::PP->new->canonical(1);

sub q_lit {
    my ($s) = @_;
    $s =~ s/'/''/g;
    return "'$s'";
}

# the ledger's raw entity: the shared sample report (t/data/reports/
# incident.json) with this row's id, site, post, status and fields
sub raw_report {
    my (%r) = @_;
    my $report = TrackTikFixture::report('incident');
    $report->{uri} =~ s{/\d+\z}{/$r{id}};
    TrackTikFixture::apply($report,
        id           => $r{id},
        account      => { id => $r{site}{id}, name => $r{site}{name},
                          type => 'CLIENT' },
        position     => { id => 300 + $r{id} % 7,
                          name => $r{post} // 'Lobby Concierge (Nights)' },
        status       => $r{status} // 'APPROVED',
        reportFields => $r{fields} // [
            { templateField => { label => 'Summary', type => 'TEXT' },
              value => $r{summary} // 'Routine patrol, nothing to note.' },
        ]);
    return TrackTikFixture::encode($report);
}

# one ledger row as the worker writes it
sub ledger_insert {
    my (%r) = @_;
    my $raw = raw_report(%r);
    my $version = $r{version} // 1;
    return sprintf(<<'SQL',
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    client_id, site_id, severity, category, report_template, status,
    time_zone, updated_on, raw, raw_sha256)
VALUES (%s, %d, %d, %s, %d, %d, %s, %s, 'Incident Report', %s,
        'America/Toronto', now(), %s::jsonb, md5(%s))
RETURNING id;
SQL
        q_lit("browser-test:$r{id}:$version"), $r{id}, $version,
        $r{at}, $r{client} // $client, $r{site}{id}, q_lit($r{severity}),
        q_lit($r{category}), q_lit($r{status} // 'APPROVED'),
        q_lit($raw), q_lit($raw));
}

# "today" in UTC, so the browser (TZ=UTC) and the fixture agree on days
my $today = tt_sql("SELECT (now() AT TIME ZONE 'UTC')::date");
sub day_at {
    my ($days_back, $time) = @_;
    return "((DATE '${today}' - $days_back) + TIME '$time')"
           . " AT TIME ZONE 'UTC'";
}

my $photo_ledger = tt_sql(ledger_insert(
    id => $report{photo}, site => $sites[0], severity => 'HIGH',
    category => 'Trespassing', at => "now() - interval '1 hour'",
    fields => [
        { templateField => { label => 'Summary', type => 'TEXT' },
          value => $summary },
        { templateField => { label => 'Police called', type => 'CHECKBOX' },
          value => 'No' },
        { templateField => { label => 'Source', type => 'TEXT',
                             confidential => JSON::PP::true },
          value => $confidential },
        { templateField => { label => 'Photo', type => 'PICTURE' },
          value => "$attachment_id" },
    ]));
tt_sql(ledger_insert(id => $report{parking}, site => $sites[1],
                     severity => 'LOW', category => 'Parking',
                     at => day_at(2, '12:00')));
tt_sql(ledger_insert(id => $report{noise}, site => $sites[0],
                     severity => 'MODERATE', category => 'Noise complaint',
                     at => day_at(3, '08:00'),
                     summary => 'Music from unit 402.'));
tt_sql(ledger_insert(id => $report{noise}, version => 2, site => $sites[0],
                     severity => 'MODERATE', category => 'Noise complaint',
                     at => day_at(3, '08:00'),
                     summary => "Music from unit 402: a $search_word "
                                . 'practice; resident agreed to stop.'));
tt_sql(ledger_insert(id => $report{vandalism}, site => $sites[1],
                     severity => 'HIGH', category => 'Vandalism',
                     at => day_at(1, '10:00')));
# enough older incidents for a second page (the portal shows 50 a page)
my $fillers = 60;
tt_sql(join '', map {
    ledger_insert(id => $report{filler} + $_, site => $sites[1],
                  severity => 'INFO', category => 'Patrol check',
                  at => day_at(5, '00:00')
                        . " - interval '" . ($_ * 7) . " hours'")
} 0 .. $fillers - 1);
# not to be seen: another client's incident, an unapproved report
tt_sql(ledger_insert(id => $report{other}, client => $other_client,
                     site => { id => $run * 10 + 9, name => 'Elsewhere' },
                     severity => 'HIGH', category => 'Trespassing',
                     at => "now() - interval '2 hours'"));
tt_sql(ledger_insert(id => $report{unapproved}, site => $sites[0],
                     severity => 'HIGH', category => 'Trespassing',
                     status => 'NEW', at => "now() - interval '3 hours'"));

# the billing line the worker would derive ("ADH x 1.0")
my $rule_set = tt_sql(q{INSERT INTO contract_rule_sets (effective_from,
    name, document) VALUES (now() - interval '1 year', 'browser test',
    '{}') RETURNING version});
tt_sql("INSERT INTO contract_rules (rule_set_version, rule_id, position,
    priority, bill_code, definition) VALUES ($rule_set, 'adh', 1, 1, 'ADH',
    '{}')");
tt_sql("INSERT INTO billing_lines (idempotency_key, kind, report_id,
    ledger_id, ledger_version, rule_set_version, rule_id, bill_code,
    quantity, unit_price, service_date, client_id, site_id)
    VALUES ('browser-test:$report{photo}:adh', 'charge', $report{photo},
    $photo_ledger, 1, $rule_set, 'adh', 'ADH', 1.0, 45.00, current_date,
    $client, $sites[0]{id})");

# the photo, in an attachment store of this test's own
sub png {
    my ($w, $h) = @_;
    my $chunk = sub {
        my ($type, $data) = @_;
        return pack('N', length $data) . $type . $data
               . pack('N', crc32($type . $data));
    };
    my $pixels = '';
    for my $y (0 .. $h - 1) {
        $pixels .= "\0" . join '', map {
            pack 'C3', ($_ * 10) % 256, ($y * 15) % 256, 160
        } 0 .. $w - 1;
    }
    return "\x89PNG\r\n\x1a\n"
        . $chunk->('IHDR', pack('NNCCCCC', $w, $h, 8, 2, 0, 0, 0))
        . $chunk->('IDAT', compress($pixels))
        . $chunk->('IEND', '');
}

my $tmp = File::Temp->newdir('tt-browser-XXXXXX', TMPDIR => 1);
my $store = "$tmp/attachments";
my $key = "reports/$report{photo}/$attachment_id.png";
make_path("$store/reports/$report{photo}");
open my $fh, '>:raw', "$store/$key" or die "$store/$key: $!";
print $fh png($png_w, $png_h);
close $fh;
chmod 0755, "$tmp", $store, "$store/reports", "$store/reports/$report{photo}";
tt_sql("INSERT INTO portal_attachments (id, report_id, name, content_type,
    storage_key) VALUES ($attachment_id, $report{photo}, 'stairwell-b.png',
    'image/png', '$key')");

tt_sql("SELECT portal_user_add(" . q_lit($email) . ", " . q_lit($password)
       . ", 'client', $client, NULL)");
# an operator, for the billing page
my $operator_email = "browser-ops-$run\@guards.example";
tt_sql("SELECT portal_user_add(" . q_lit($operator_email) . ", "
       . q_lit($password) . ", 'operator', NULL, NULL)");
# earlier suites' failed logins from 127.0.0.1 must not throttle this one
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

my $secret = "$tmp/session.secret";
open $fh, '>', $secret or die "$secret: $!";
print $fh join('', map { sprintf '%02x', int rand 256 } 1 .. 32), "\n";
close $fh;

my $nginx = TrackTikTest::Nginx->start(
    http   => qq{tracktik_postgres "$ENV{TRACKTIK_DSN}" pool=4;},
    server => TTBrowser::portal_server(
        secret => $secret, store => $store, store_types => 1,
        public => [ '/portal/unsubscribe.html' ], before => <<'CONF'));

        location = /portal/notify/unsubscribe {
            if ($request_method = POST) {
                rewrite ^ /portal/api/notify/unsubscribe last;
            }
            rewrite ^ /portal/unsubscribe.html last;
        }
CONF

my $fixture = {
    email               => $email,
    password            => $password,
    operator_email      => $operator_email,
    client              => $client,
    billing_error       => 'no contract: the post has none',
    sites               => \@sites,
    newest              => $report{photo},
    visible_total       => 4 + $fillers,
    counts              => { HIGH => 2 },
    per_site            => [[$sites[1]{name}, 2 + $fillers],
                            [$sites[0]{name}, 2]],
    other_client_report => $report{other},
    unapproved_report   => $report{unapproved},
    photo_report        => $report{photo},
    photo_name          => 'stairwell-b.png',
    photo_width         => $png_w,
    photo_height        => $png_h,
    summary_text        => $summary,
    confidential_text   => $confidential,
    versioned_report    => $report{noise},
    search_word         => $search_word,
    recent_from         => tt_sql("SELECT DATE '${today}' - 3"),
    recent_to           => tt_sql("SELECT DATE '${today}' - 2"),
    recent_ids          => [$report{parking}, $report{noise}],
    live_report         => $report{live},
    live_insert_sql     => ledger_insert(
        id => $report{live}, site => $sites[0], severity => 'SEVERE',
        category => 'Fire alarm', at => 'now()',
        summary => 'Alarm on level 2; fire service attended.'),
};

my $output = "$repo/t/browser/output";
make_path($output);
unlink glob "$output/*.png";

TTBrowser::run_spec(spec => "$repo/t/browser/portal.spec.mjs",
                    node => $node, chromium => $chromium, nginx => $nginx,
                    fixture => $fixture, output => $output);

$nginx->stop;
done_testing();
