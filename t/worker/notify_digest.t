#!/usr/bin/perl
# Digests: one mail per recipient and period at a local time in the
# recipient's zone, with counts per site and severity and the list of
# incidents; correct across the DST changes of New York (14 March 2027)
# and Paris (28 March 2027).  The clock is set with `notify run --now`;
# the incidents' queueing times are set to match it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;
use TTNotify;

my $t = TTWorker->new('notify_digest');
my $n = TTNotify->new($t);

$n->load({
    recipients => {
        daily  => { email => 'daily@guards.example',
                    time_zone => 'America/New_York' },
        weekly => { email => 'weekly@guards.example',
                    time_zone => 'Europe/Paris' },
    },
    rules => [
        { id => 'c3-daily', match => { client => [3] }, notify => ['daily'],
          mode => 'daily', digest_at => '08:00' },
        { id => 'c3-weekly', match => { client => [3] }, notify => ['weekly'],
          mode => 'weekly', digest_at => '09:00', digest_weekday => 'mon' },
    ],
});

sub ingest {
    my ($queued_at, @reports) = @_;
    $t->enqueue(map { [ "g-$_->{id}", $_ ] } @reports);
    my ($rc, $log) = $t->drain;
    die "drain failed: $log" unless $rc == 0;
    $t->rows("UPDATE notifications SET created_at = '$queued_at'"
           . " WHERE state = 'digest'"
           . " AND report_id IN (" . join(',', map { $_->{id} } @reports) . ")");
}

sub mails_to {
    my ($who) = @_;
    return grep { /^X-TT-Envelope-To: <\Q$who\E>/m } $n->mails;
}

sub at {
    my ($now) = @_;
    my ($rc, $out, $err) = $n->send_due('--now', $now);
    die "notify run failed: $err" unless $rc == 0;
    return $out;
}

my $other = { id => 56, name => 'Harbour Gate', parentClient => 3,
              timeZone => 'America/New_York' };

ingest('2027-03-13T05:00:00Z',
       report_json(id => 401),
       report_json(id => 402),
       report_json(id => 403, account => $other, severity => 'LOW'));

subtest 'nothing goes out immediately' => sub {
    is $t->value("SELECT count(*) FROM notifications WHERE state = 'digest'"),
        6, 'three incidents wait for each of the two digests';
    at('2027-03-13T12:30:00Z');
    is scalar(() = $n->mails), 0, 'no mail at 07:30 in New York';
};

subtest 'the daily digest at 08:00 New York time (EST, UTC-5)' => sub {
    at('2027-03-13T13:30:00Z');
    my @m = mails_to('daily@guards.example');
    is scalar @m, 1, 'one digest mail';
    like $m[0], qr/^Subject: Digest: 3 incidents up to 2027-03-13 08:00 \(America\/New_York\)\r$/m,
        'the subject counts the incidents and names the period end in the zone';
    like $m[0], qr/^  Main St \/ HIGH: 2\r$/m, 'two HIGH at Main St';
    like $m[0], qr/^  Harbour Gate \/ LOW: 1\r$/m, 'one LOW at Harbour Gate';
    like $m[0], qr/#401 HIGH Main St/, 'incident 401 listed';
    like $m[0], qr/#403 LOW Harbour Gate/, 'incident 403 listed';
    like $m[0], qr{<td>Main St</td><td>HIGH</td><td>2</td>}, 'the HTML part counts too';
    like $m[0], qr{/notify/unsubscribe\?token=}, 'an unsubscribe link';
    is $t->value("SELECT count(*) FROM notifications WHERE state = 'digested'"
               . " AND rule_key = 'c3-daily'"), 3, 'the three went out in it';
    is scalar(mails_to('weekly@guards.example')), 0, 'the weekly one waits';

    at('2027-03-13T14:00:00Z');
    is scalar(mails_to('daily@guards.example')), 1, 'one digest per period';
};

subtest 'the next day, after the change to EDT (UTC-4): still 08:00' => sub {
    ingest('2027-03-14T05:00:00Z', report_json(id => 404, severity => 'SEVERE'));
    at('2027-03-14T11:45:00Z');
    is scalar(mails_to('daily@guards.example')), 1, 'nothing at 07:45 EDT';
    at('2027-03-14T12:30:00Z');
    my @m = mails_to('daily@guards.example');
    is scalar @m, 2, 'the digest at 08:30 EDT (12:30 UTC, an hour before 08:00 EST would be)';
    like $m[1], qr/^Subject: Digest: 1 incident up to 2027-03-14 08:00 \(America\/New_York\)\r$/m,
        'only the new incident, up to 08:00 local';
    like $m[1], qr/^  Main St \/ SEVERE: 1\r$/m, 'counted';
};

subtest 'the weekly digest, Monday 09:00 in Paris after its DST change' => sub {
    $t->rows("UPDATE notifications SET created_at = '2027-03-24T10:00:00Z'"
           . " WHERE state = 'digest' AND rule_key = 'c3-weekly'");
    at('2027-03-29T06:45:00Z');
    is scalar(mails_to('weekly@guards.example')), 0, 'nothing at 08:45 CEST';
    at('2027-03-29T07:30:00Z');
    my @m = mails_to('weekly@guards.example');
    is scalar @m, 1, 'one weekly digest at 09:30 CEST (07:30 UTC)';
    like $m[0], qr/^Subject: Digest: 4 incidents up to 2027-03-29 09:00 \(Europe\/Paris\)\r$/m,
        'four incidents, up to Monday 09:00 Paris time';
};

subtest 'a bad --now is refused' => sub {
    my ($rc, $out, $err) = $t->worker('notify', 'run', '--drain', '--now', 'monday');
    is $rc, 2, 'usage error';
    like $err, qr/--now.*not an ISO 8601 date-time/, 'saying why';
};

done_testing;
