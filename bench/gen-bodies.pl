#!/usr/bin/perl
# Pre-generate signed, unique TrackTik webhook deliveries for wrk.
#
#   gen-bodies.pl --count N --threads T --secret-file F --out DIR
#                 [--path /webhooks/tracktik] [--host 127.0.0.1]
#
# Each body is the shared sample report, t/data/reports/incident.json (a
# TrackTik report entity, tracktik-api.md section 3.7: ReportsItem with
# reportTemplate, account, position, reportFlag and reportFields
# included), with a unique report id, varied sites, posts, flags, status
# and times, and its narrative field padded to exactly --size bytes (1024).
# The header TrackTik-Subscription-Secret carries the lowercase hex
# HMAC-SHA512 of the exact body keyed with the first secret in the file
# (t/helper/TrackTikSign.pm).
#
# Output: DIR/requests.0 .. DIR/requests.<T-1>, one disjoint slice per wrk
# thread (request i goes to slice i % T).  A record is the decimal length
# of a complete raw HTTP/1.1 request, a newline, then the request bytes,
# so the wrk script reads them lazily without parsing anything.
# DIR/payload.head and DIR/payload.tail split one body around its id, for
# the pgbench scripts that insert the same rows.
use strict;
use warnings;
use File::Basename qw(dirname);
use Getopt::Long;

use lib dirname(__FILE__) . '/../t/helper';
use TrackTikFixture;
use TrackTikSign;

my %o = (count => 200000, threads => 2, path => '/webhooks/tracktik',
         host => '127.0.0.1', size => 1024);
GetOptions(\%o, 'count=i', 'threads=i', 'secret-file=s', 'out=s', 'path=s',
           'host=s', 'size=i') or die "usage: see the header of $0\n";
defined $o{'secret-file'} && defined $o{out}
    or die "gen-bodies.pl: --secret-file and --out are required\n";

my $secret = eval { TrackTikSign::read_secret($o{'secret-file'}) }
    or die "gen-bodies.pl: $@";

my @sites = (
    [1042, 'Harbourfront Tower', 'SITE-1042', 'America/Toronto'],
    [1187, 'Northgate Distribution Centre', 'SITE-1187', 'America/Toronto'],
    [2210, 'Riverside Medical Campus', 'SITE-2210', 'America/Montreal'],
    [2315, 'Lakeshore Retail Park', 'SITE-2315', 'America/Chicago'],
    [3001, 'Union Station Parking P2', 'SITE-3001', 'America/New_York'],
);
my @positions = ([311, 'Lobby Officer'], [312, 'Mobile Patrol'],
                 [318, 'Loading Dock Supervisor'], [402, 'Concierge']);
my @flags = ([7, 'Trespass', 'MODERATE'], [9, 'Fire Alarm', 'HIGH'],
             [12, 'Slip and Fall', 'SEVERE'], [15, 'Suspicious Vehicle', 'LOW'],
             [21, 'Door Found Unsecured', 'INFO']);
my @statuses = qw(NEW NEW NEW PENDING VERIFICATION APPROVED);
my @words = qw(officer observed individual near north entrance at approx
    hours and requested identification subject left premises without
    incident cctv reviewed door secured supervisor notified client contact
    informed area checked again no further activity police not required
    vehicle plate recorded photos attached alarm panel reset by technician);

sub stamp {
    my ($t) = @_;
    my @g = gmtime $t;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d+00:00',
        $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
}

# The fixture is encoded once, with @@NAME@@ in the places that vary, and
# each body fills them in (encoding 300,000 bodies with JSON::PP would take
# minutes).  A placeholder that is a whole JSON value and names a number
# becomes the bare number.
my %number = map { $_ => 1 } qw(ID BY SITE POS FLAG F0 F1 F2 F3);
my $template = do {
    my $r = TrackTikFixture::report('incident');
    $r->{id} = '@@ID@@';
    $r->{uri} =~ s{/\d+\z}{/\@\@ID\@\@};
    @$r{qw(status reportDateTime createdBy timeZone)}
        = qw(@@STATUS@@ @@REPORTED@@ @@BY@@ @@TZ@@);
    @$r{qw(submittedOn createdOn updatedOn)} = ('@@STAMP@@') x 3;
    @{ $r->{account} }{qw(id name customId)} = qw(@@SITE@@ @@SITE_NAME@@
                                                   @@SITE_CUSTOM@@);
    @{ $r->{position} }{qw(id name customId)} = qw(@@POS@@ @@POS_NAME@@
                                                    @@POS_CUSTOM@@);
    $r->{reportFlag} = { id => '@@FLAG@@', name => '@@FLAG_NAME@@',
                         severityLevel => '@@SEVERITY@@' };
    my $k = 0;
    for my $f (@{ $r->{reportFields} }) {
        $f->{id} = '@@F' . $k++ . '@@';
        $f->{value} = '@@SUMMARY@@' if $f->{fieldTag} eq 'summary';
        $f->{value} = '@@POLICE@@' if $f->{fieldTag} eq 'police_called';
    }
    TrackTikFixture::encode($r);
};

sub fill {
    my ($v) = @_;
    my $text = $template;
    $text =~ s/"\@\@(\w+)\@\@"/$number{$1} ? $v->{$1} : "\"\@\@$1\@\@\""/ge;
    $text =~ s/\@\@(\w+)\@\@/$v->{$1}/g;
    return $text;
}

sub body {
    my ($n) = @_;
    my $id = 5_000_000 + $n;
    my $site = $sites[$n % @sites];
    my $pos = $positions[($n >> 1) % @positions];
    my $flag = $flags[($n >> 2) % @flags];
    my $t = 1_795_000_000 + $n * 7;
    my %v = (ID => $id, STATUS => $statuses[$n % @statuses],
             REPORTED => stamp($t - 600), STAMP => stamp($t),
             BY => 2200 + $n % 97, TZ => $site->[3],
             SITE => $site->[0], SITE_NAME => $site->[1],
             SITE_CUSTOM => $site->[2], POS => $pos->[0],
             POS_NAME => $pos->[1], POS_CUSTOM => "$site->[2]-$pos->[0]",
             FLAG => $flag->[0], FLAG_NAME => $flag->[1],
             SEVERITY => $flag->[2], POLICE => $n % 5 ? 'No' : 'Yes',
             SUMMARY => '', map { ("F$_" => $id * 4 + $_) } 0 .. 3);
    my $room = $o{size} - length fill(\%v);
    $room > 0 or die "gen-bodies.pl: --size $o{size} is too small\n";
    my ($text, $w) = ('', $n);
    while (length $text < $room) {
        $text .= ($text eq '' ? '' : ' ') . $words[$w++ % @words];
        $w += $n % 3;
    }
    $v{SUMMARY} = substr($text, 0, $room);
    return fill(\%v);
}

mkdir $o{out} unless -d $o{out};
my @fh;
for my $i (0 .. $o{threads} - 1) {
    open $fh[$i], '>', "$o{out}/requests.$i.tmp" or die "$o{out}: $!\n";
    binmode $fh[$i];
}
for my $n (0 .. $o{count} - 1) {
    my $b = body($n);
    my $req = "POST $o{path} HTTP/1.1\r\nHost: $o{host}\r\n"
        . "Content-Type: application/json\r\n"
        . 'TrackTik-Subscription-Secret: '
        . TrackTikSign::hmac_hex('sha512', $secret, $b)
        . "\r\nContent-Length: " . length($b) . "\r\n\r\n" . $b;
    print { $fh[$n % $o{threads}] } length($req), "\n", $req;
}
for my $i (0 .. $o{threads} - 1) {
    close $fh[$i] or die "$o{out}: $!\n";
    rename "$o{out}/requests.$i.tmp", "$o{out}/requests.$i" or die "$!\n";
}

# the same entity for pgbench, split around its id
my $sample = body(0);
my @parts = split /(?<="id":)5000000(?=,)/, $sample, -1;
@parts == 2 or die "gen-bodies.pl: the sample's id is not unique\n";
for (['head', $parts[0]], ['tail', $parts[1]]) {
    open my $f, '>', "$o{out}/payload.$_->[0]" or die "$!\n";
    print $f $_->[1];
    close $f;
}
