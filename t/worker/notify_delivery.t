#!/usr/bin/perl
# Notifications delivered: mail to a local SMTP server and signed
# webhooks to a receiver that checks the Standard Webhooks signature.
# Exactly once across a redelivered job and a re-version with the same
# severity; again (saying so) when the severity rises; retries through
# SMTP 4xx/5xx and webhook 5xx, timeouts and dropped connections; dead
# and replayed; a recipient that keeps failing is paused; unsubscribe;
# a rolled back version queues nothing; no confidential or adminOnly
# field in any mail or payload.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TTWorker;
use TTNotify;

my $t = TTWorker->new('notify_delivery');
my $n = TTNotify->new($t);

$n->load({
    recipients => {
        ops   => { email => 'ops@client3.example' },
        hook  => { webhook => $n->{hook_url},
                   secret_file => $n->{secret_file} },
        flaky => { email => 'flaky@client8.example' },
    },
    rules => [
        { id => 'client-3-high', match => { client => [3] },
          min_severity => 'HIGH', notify => ['ops', 'hook'] },
        { id => 'client-8', match => { client => [8] }, notify => ['flaky'] },
    ],
});

my @fast = ('--backoff-base-s', 1, '--backoff-cap-s', 1);

# a client 3 report with a confidential and an adminOnly field
sub report {
    my (%o) = @_;
    my $id = delete $o{id};
    return report_json(id => $id, reportFields => [
        { id => 1, value => 'gate found open', valueLabel => 'gate found open',
          templateField => { label => 'Observation', type => 'TEXT' } },
        { id => 2, value => 'CONFIDENTIAL-ALARM-CODE-7731',
          templateField => { label => 'Alarm code', type => 'TEXT',
                             confidential => JSON::PP::true } },
        { id => 3, value => 'ADMIN-ONLY-NOTE-4410',
          templateField => { label => 'Guard rating', type => 'TEXT',
                             adminOnly => JSON::PP::true } },
    ], %o);
}

sub ingest {
    $t->enqueue(@_);
    my ($rc, $log) = $t->drain;
    die "drain failed: $log" unless $rc == 0;
}

sub states {
    my ($report) = @_;
    return join ',', map { "$_->[0]:$_->[1]" } $t->rows(
        "SELECT channel, state FROM notifications WHERE report_id = $report"
      . " ORDER BY id");
}

# sends until nothing is due (retries after the 0.5..1 s backoff)
sub send_all {
    my (@args) = @_;
    my $log = '';
    for (1 .. 20) {
        my ($rc, $out, $err) = $n->send_due(@fast, @args);
        die "notify run failed: $err" unless $rc == 0;
        $log .= $out;
        last unless $t->value("SELECT count(*) FROM notifications n"
                            . " JOIN notify_recipients r ON r.id = n.recipient_id"
                            . " WHERE n.state IN ('pending', 'sending')"
                            . " AND r.paused_at IS NULL");
        sleep 0.5;
    }
    return $log;
}

my ($first_mail, $first_hook);

subtest 'a HIGH incident of client 3: one mail and one signed webhook' => sub {
    ingest([ 'd-1', report(id => 101) ]);
    is states(101), 'email:pending,webhook:pending', 'two notifications queued';

    my ($rc, $out, $err) = $n->send_due;
    is $rc, 0, 'notify run --drain exits 0' or diag $err;
    like $out, qr/2 sent, 0 failed/, 'says what it did';
    is states(101), 'email:sent,webhook:sent', 'both sent';

    my @mails = $n->mails;
    is scalar @mails, 1, 'the SMTP server has one mail';
    $first_mail = $mails[0];
    like $first_mail, qr/^X-TT-Envelope-To: <ops\@client3\.example>/m, 'to ops';
    like $first_mail, qr/^X-TT-Envelope-From: <alerts\@guards\.example>/m,
        'from the --smtp-from address';
    like $first_mail, qr/^Message-ID: <tracktik-notification-\d+\@guards\.example>\r$/m,
        'a Message-ID of its own';
    like $first_mail, qr/^Subject: \[HIGH\] incident 101 at Main St\r$/m,
        'the subject says severity, incident and site';
    like $first_mail, qr{multipart/alternative}, 'multipart';
    like $first_mail, qr{Content-Type: text/plain; charset=utf-8}, 'a plain part';
    like $first_mail, qr{Content-Type: text/html; charset=utf-8}, 'an HTML part';
    like $first_mail, qr{https://portal\.guards\.example/portal/#incident=101},
        'a link to the incident in the portal';
    like $first_mail, qr{/notify/unsubscribe\?token=\d+\.[0-9a-f]{64}},
        'a signed unsubscribe link';
    like $first_mail, qr/^List-Unsubscribe: </m, 'and the List-Unsubscribe header';
    like $first_mail, qr/Observation: gate found open/, 'the visible field is shown';

    my @hooks = $n->hooks;
    is scalar @hooks, 1, 'the receiver has one delivery';
    $first_hook = $hooks[0];
    ok $first_hook->{verified}, 'its Standard Webhooks signature verifies';
    like $first_hook->{id}, qr/^msg_tracktik_\d+$/, 'webhook-id';
    like $first_hook->{signatures}, qr{^v1,[A-Za-z0-9+/]+=*$}, 'webhook-signature v1';
    my $body = JSON::PP::decode_json($first_hook->{body});
    is $body->{type}, 'incident.new', 'type incident.new';
    is $body->{data}{id}, 101, 'the payload is the portal item';
    is $body->{data}{severity}, 'HIGH', '... with its severity';
    is $body->{data}{site}{name}, 'Main St', '... and site';
};

subtest 'no confidential or adminOnly field in any mail or payload' => sub {
    for my $text ($first_mail, $first_hook->{body}) {
        unlike $text, qr/CONFIDENTIAL-ALARM-CODE/, 'no confidential value';
        unlike $text, qr/Alarm code/, 'nor its label';
        unlike $text, qr/ADMIN-ONLY-NOTE/, 'no adminOnly value';
        unlike $text, qr/Guard rating/, 'nor its label';
    }
};

subtest 'exactly once: a redelivered job and a re-version, same severity' => sub {
    ingest([ 'd-1-again', report(id => 101) ]);
    ingest([ 'd-1-v2', report(id => 101, comment => 'guard added a note',
                              updatedOn => '2026-03-03T01:00:00Z') ]);
    is $t->value("SELECT max(version) FROM incidents_ledger WHERE report_id = 101"),
        2, 'the re-version is in the ledger';
    is states(101), 'email:sent,webhook:sent', 'no new notification';
    $n->send_due;
    is scalar(() = $n->mails), 1, 'still one mail';
    is scalar(() = $n->hooks), 1, 'still one webhook delivery';
};

subtest 'a rise in severity notifies again, saying so' => sub {
    ingest([ 'd-1-v3', report(id => 101, severity => 'SEVERE',
                              updatedOn => '2026-03-03T02:00:00Z') ]);
    is states(101), 'email:sent,webhook:sent,email:pending,webhook:pending',
        'two more notifications';
    is $t->value("SELECT string_agg(DISTINCT announce, ',') FROM notifications"
               . " WHERE report_id = 101 AND state = 'pending'"),
        'severity_raised:SEVERE', 'announcing the raised severity';
    $n->send_due;
    my @mails = $n->mails;
    is scalar @mails, 2, 'a second mail';
    like $mails[1], qr/^Subject: Severity raised to SEVERE: incident 101/m,
        'its subject says the severity rose';
    my @hooks = $n->hooks;
    is JSON::PP::decode_json($hooks[1]{body})->{type},
        'incident.severity_raised', 'the webhook says so too';

    ingest([ 'd-1-v4', report(id => 101, severity => 'HIGH',
                              updatedOn => '2026-03-03T03:00:00Z') ]);
    ingest([ 'd-1-v5', report(id => 101, severity => 'SEVERE',
                              updatedOn => '2026-03-03T04:00:00Z') ]);
    is $t->value("SELECT count(*) FROM notifications WHERE report_id = 101"),
        4, 'falling back and rising to SEVERE again announces nothing';
};

subtest 'a rolled back ledger version queues nothing' => sub {
    my $before = $t->value("SELECT count(*) FROM notifications");
    my @inside = $t->rows("BEGIN;"
           . " INSERT INTO incidents_ledger (event_id, report_id, version,"
           . "  occurred_at, client_id, site_id, severity, status, time_zone,"
           . "  raw, raw_sha256)"
           . " VALUES ('rolled-back', 199, 1, now(), 3, 55, 'SEVERE',"
           . "  'APPROVED', 'UTC', '{}', 'x');"
           . " SELECT count(*) FROM notifications WHERE report_id = 199;"
           . " ROLLBACK;");
    is $inside[0][0], 2, 'inside its transaction, the version queued two';
    is $t->value("SELECT count(*) FROM notifications"), $before,
        'no notification survives the rollback';
};

subtest 'SMTP 4xx and 5xx are retried after a backoff' => sub {
    $n->fail_smtp(451, 1);
    ingest([ 'd-2', report(id => 102) ]);
    my ($rc, $out) = $n->send_due(@fast);
    like $out, qr/email ops\@client3\.example: failed 451/, 'the 451 is reported';
    is states(102), 'email:pending,webhook:sent', 'the mail waits for its retry';
    ok $t->value("SELECT next_attempt_at > now() FROM notifications"
               . " WHERE report_id = 102 AND channel = 'email'"),
        'not before its backoff';
    send_all();
    is states(102), 'email:sent,webhook:sent', 'sent on the next attempt';

    $n->fail_smtp(554, 1);
    ingest([ 'd-3', report(id => 103) ]);
    send_all();
    is states(103), 'email:sent,webhook:sent', '554, then sent';
    is join(',', map { $_->[0] } $t->rows(
        "SELECT a.status FROM notify_attempts a JOIN notifications n"
      . " ON n.id = a.notification_id WHERE n.report_id IN (102, 103)"
      . " AND n.channel = 'email' ORDER BY a.id")),
        '451,250,554,250', 'every attempt is in the log with its SMTP reply';
};

subtest 'webhook 5xx, timeout and a dropped connection are retried' => sub {
    for my $case ([ 500, '500' ], [ 'drop', 'error' ], [ 'timeout', 'timeout' ]) {
        my ($mode, $status) = @$case;
        my $id = 110 + scalar(() = $n->hooks);
        $n->fail_hook($mode, 1);
        ingest([ "d-h-$id", report(id => $id) ]);
        my ($rc, $out) = $n->send_due(@fast);
        like $out, qr/webhook \S+: failed \Q$status\E/, "$mode: reported as $status";
        send_all();
        is states($id), 'email:sent,webhook:sent', "$mode: then delivered";
    }
    ok !(grep { !$_->{verified} } $n->hooks), 'every delivery verified';
    my %ids;
    $ids{$_->{id}}++ for $n->hooks;
    ok !(grep { $_ > 1 } values %ids), 'one delivery recorded per webhook-id';
};

subtest 'dead after the last attempt, visible, and replayed' => sub {
    $n->fail_smtp(451, 10);
    ingest([ 'd-4', report(id => 104) ]);
    send_all('--max-attempts', 2);
    is states(104), 'email:dead,webhook:sent', 'dead after two attempts';
    my ($rc, $out) = $t->worker('notify', 'log', '--limit', 2);
    is $rc, 0, 'notify log exits 0';
    like $out, qr/^at\tnotification\tchannel/, 'a header line';
    like $out, qr/ops\@client3\.example\t104\tnew\tfailed\t451\t[^\t]*\tdead$/m,
        'the log shows the 451 and the dead notification';

    my $id = $t->value("SELECT id FROM notifications WHERE report_id = 104"
                     . " AND channel = 'email'");
    ($rc, $out, my $err) = $t->worker('notify', 'replay', $id);
    is $rc, 0, 'notify replay exits 0' or diag $err;
    ($rc, $out, $err) = $t->worker('notify', 'replay', $id);
    is $rc, 1, 'a notification that is not dead is not replayed';
    like $err, qr/not dead/, '... saying so';
    $n->fail_smtp(451, 0);
    send_all();
    is states(104), 'email:sent,webhook:sent', 'the replay is delivered';
};

subtest 'a recipient that keeps failing is paused with the reason' => sub {
    $n->fail_smtp(550, 100);
    ingest([ 'd-8a', report(id => 801, account => { id => 80, name => 'Depot',
                                                     parentClient => 8 }) ]);
    send_all('--pause-after', 3, '--max-attempts', 10);
    is $t->value("SELECT paused_reason FROM notify_recipients"
               . " WHERE address = 'flaky\@client8.example'") // '',
        '3 deliveries in a row failed; the last: 550 '
      . $t->value("SELECT detail FROM notify_attempts ORDER BY id DESC LIMIT 1"),
        'paused, saying why';
    is states(801), 'email:pending', 'its notification waits';
    my $attempts = $t->value("SELECT count(*) FROM notify_attempts");
    $n->send_due(@fast);
    sleep 1.2;
    $n->send_due(@fast);
    is $t->value("SELECT count(*) FROM notify_attempts"), $attempts,
        'nothing is tried while it is paused';
    my ($rc, $out) = $t->worker('notify', 'log', '--limit', 1);
    like $out, qr/recipient paused: 3 deliveries in a row failed/,
        'the log shows the pause';

    $n->fail_smtp(550, 0);
    ($rc, $out, my $err) = $t->worker('notify', 'resume', 'flaky@client8.example');
    is $rc, 0, 'notify resume exits 0' or diag $err;
    send_all();
    is states(801), 'email:sent', 'sent once resumed';
};

subtest 'two senders at once share the queue: each mail once' => sub {
    my $before = scalar(() = $n->mails);
    ingest(map { [ "d-par-$_", report(id => 1000 + $_) ] } 1 .. 60);
    my @senders = map {
        IPC::Run::start([ TTWorker::binary(), 'notify', 'run', '--drain',
                          '--batch', 5, '--dsn', $t->dsn,
                          '--smtp-url', "smtp://127.0.0.1:$n->{smtp_port}",
                          '--smtp-from', 'alerts@guards.example' ],
                        \undef, \my $out, \my $err)
    } 1 .. 2;
    $_->finish for @senders;
    is $t->value("SELECT count(*) FROM notifications WHERE report_id > 1000"
               . " AND state = 'sent'"), 120, 'all 120 sent';
    is scalar(() = $n->mails) - $before, 60, '60 mails, none twice';
    is $t->value("SELECT count(*) FROM notify_attempts a JOIN notifications n"
               . " ON n.id = a.notification_id WHERE n.report_id > 1000"),
        120, 'one attempt each';
};

subtest 'the unsubscribe link pauses that subscription' => sub {
    my ($token) = $first_mail =~ /unsubscribe\?token=(\d+\.[0-9a-f]{64})/;
    my $bad = $token;
    $bad =~ s/[0-9a-f]$/$& eq '0' ? '1' : '0'/e;
    is $t->value("SELECT notify_unsubscribe('$bad')"), 'f',
        'a tampered token is refused';
    ingest([ 'd-5', report(id => 105) ]);
    is states(105), 'email:pending,webhook:pending', 'still subscribed';
    is $t->value("SELECT notify_unsubscribe('$token')"), 't',
        'the signed token is accepted';
    ingest([ 'd-6', report(id => 106) ]);
    is states(106), 'webhook:pending', 'no more mail for that rule';
    send_all();
};

# the rules again, client 3's incidents to the webhook alone: a load reads
# the endpoint's secret file afresh
sub load_hook_only {
    $n->load({
        recipients => { hook => { webhook => $n->{hook_url},
                                  secret_file => $n->{secret_file} } },
        rules => [ { id => 'client-3-high', match => { client => [3] },
                     min_severity => 'HIGH', notify => ['hook'] } ],
    });
}

subtest 'secret rotation: a signature per secret' => sub {
    my $new = 'whsec_' . MIME::Base64::encode_base64('n' x 32, '');
    # the receiver knows only the new secret; the sender signs with both
    $t->file('receiver.secrets', "$new\n");
    $t->file('hook.secret', "$n->{secret}\n$new\n");
    load_hook_only();
    ingest([ 'd-7', report(id => 107) ]);
    send_all();
    my @hooks = $n->hooks;
    is scalar(split / /, $hooks[-1]{signatures}), 2, 'two signatures';
    ok $hooks[-1]{verified}, 'the receiver verifies it with the new secret';
    is states(107), 'webhook:sent', 'delivered';

    # the old secret alone no longer verifies: the receiver answers 401
    $t->file('hook.secret', "$n->{secret}\n");
    load_hook_only();
    ingest([ 'd-8', report(id => 108) ]);
    my ($rc, $out) = $n->send_due(@fast);
    like $out, qr/failed 401/, 'a wrong signature is refused by the receiver';
};

done_testing;
