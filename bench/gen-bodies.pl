#!/usr/bin/perl
# Pre-generate signed, unique TrackTik webhook deliveries for wrk.
#
#   gen-bodies.pl --count N --threads T --secret-file F --out DIR
#                 [--path /webhooks/tracktik] [--host 127.0.0.1]
#
# Each body is a TrackTik report entity (tracktik-api.md section 3.7:
# ReportsItem with reportTemplate, account, position, reportFlag and
# reportFields included) of exactly 1024 bytes with a unique report id.
# The header TrackTik-Subscription-Secret carries the lowercase hex
# HMAC-SHA512 of the exact body keyed with the first secret in the file.
#
# Output: DIR/requests.0 .. DIR/requests.<T-1>, one disjoint slice per wrk
# thread (request i goes to slice i % T).  A record is the decimal length
# of a complete raw HTTP/1.1 request, a newline, then the request bytes,
# so the wrk script reads them lazily without parsing anything.
# DIR/payload.head and DIR/payload.tail split one body around its id, for
# the pgbench scripts that insert the same rows.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha512_hex);
use Getopt::Long;

my %o = (count => 200000, threads => 2, path => '/webhooks/tracktik',
         host => '127.0.0.1', size => 1024);
GetOptions(\%o, 'count=i', 'threads=i', 'secret-file=s', 'out=s', 'path=s',
           'host=s', 'size=i') or die "usage: see the header of $0\n";
defined $o{'secret-file'} && defined $o{out}
    or die "gen-bodies.pl: --secret-file and --out are required\n";

open my $sf, '<', $o{'secret-file'} or die "$o{'secret-file'}: $!\n";
my $secret = <$sf>;
close $sf;
defined $secret or die "$o{'secret-file'}: empty\n";
$secret =~ s/\r?\n\z//;

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

sub body {
    my ($n) = @_;
    my $id = 5_000_000 + $n;
    my $site = $sites[$n % @sites];
    my $pos = $positions[($n >> 1) % @positions];
    my $flag = $flags[($n >> 2) % @flags];
    my $status = $statuses[$n % @statuses];
    my $t = 1_795_000_000 + $n * 7;
    my $by = 2200 + $n % 97;
    my $head = sprintf '{"id":%d,"uri":"/rest/v1/reports/%d",'
        . '"resourceType":"reports","status":"%s",'
        . '"reportTemplate":{"id":28,"name":"Incident Report",'
        . '"tag":"INCIDENT"},"reportDateTime":"%s","submittedOn":"%s",'
        . '"approvedOn":null,"approvedBy":null,'
        . '"account":{"id":%d,"name":"%s","customId":"%s"},'
        . '"position":{"id":%d,"name":"%s"},'
        . '"reportFlag":{"id":%d,"name":"%s","severityLevel":"%s"},'
        . '"siteLocation":%d,"checkpoint":null,'
        . '"geoLocation":{"latitude":%.5f,"longitude":%.5f},'
        . '"timeZone":"%s","createdBy":%d,"createdOn":"%s",'
        . '"updatedBy":%d,"updatedOn":"%s","reportFields":['
        . '{"id":%d,"templateField":101,"fieldTag":"incident_time",'
        . '"value":"%s"},'
        . '{"id":%d,"templateField":102,"fieldTag":"police_called",'
        . '"value":"%s"},'
        . '{"id":%d,"templateField":103,"fieldTag":"narrative","value":"',
        $id, $id, $status, stamp($t - 600), stamp($t),
        @$site[0 .. 2], @$pos, @$flag, 50 + $n % 40,
        43.6 + ($n % 1000) / 100000, -79.38 - ($n % 777) / 100000,
        $site->[3], $by, stamp($t), $by, stamp($t),
        $id * 4 + 1, stamp($t - 900), $id * 4 + 2, $n % 5 ? "No" : "Yes",
        $id * 4 + 3;
    my $tail = '"}]}';
    my $room = $o{size} - length($head) - length($tail);
    $room > 0 or die "gen-bodies.pl: --size $o{size} is too small\n";
    my ($text, $w) = ('', $n);
    while (length $text < $room) {
        $text .= ($text eq '' ? '' : ' ') . $words[$w++ % @words];
        $w += $n % 3;
    }
    return $head . substr($text, 0, $room) . $tail;
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
        . 'TrackTik-Subscription-Secret: ' . hmac_sha512_hex($b, $secret)
        . "\r\nContent-Length: " . length($b) . "\r\n\r\n" . $b;
    print { $fh[$n % $o{threads}] } length($req), "\n", $req;
}
for my $i (0 .. $o{threads} - 1) {
    close $fh[$i] or die "$o{out}: $!\n";
    rename "$o{out}/requests.$i.tmp", "$o{out}/requests.$i" or die "$!\n";
}

# the same entity for pgbench, split around its id
my $sample = body(0);
$sample =~ /\A(\{"id":)5000000(,.*)\z/s or die "gen-bodies.pl: bad sample\n";
for (['head', $1], ['tail', $2]) {
    open my $f, '>', "$o{out}/payload.$_->[0]" or die "$!\n";
    print $f $_->[1];
    close $f;
}
