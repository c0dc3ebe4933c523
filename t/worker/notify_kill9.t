#!/usr/bin/perl
# A sender killed with SIGKILL after the SMTP server accepted a mail but
# before the attempt was recorded: the claim runs out, the next sender
# sends it again, and that is the only copy too many.  SMTP cannot ask a
# relay whether it took a message already, so one duplicate per such
# crash is the floor; the copy carries the same Message-ID, which mail
# clients use to drop it.  Nothing is lost.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TTWorker;
use TTNotify;

my $t = TTWorker->new('notify_kill9');
my $n = TTNotify->new($t);

$n->load({
    recipients => { ops => { email => 'ops@client3.example' } },
    rules => [ { id => 'c3', match => { client => [3] }, notify => ['ops'] } ],
});

$t->enqueue([ 'k-1', report_json(id => 301) ]);
my ($rc, $log) = $t->drain;
is $rc, 0, 'the report is recorded' or diag $log;

# the sender waits 30 s between the SMTP reply and its record
my $pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>', '/dev/null';
    exec(TTWorker::binary(), 'notify', 'run',
         '--smtp-url', "smtp://127.0.0.1:$n->{smtp_port}",
         '--smtp-from', 'alerts@guards.example', '--lease-seconds', 5,
         '--record-delay-ms', 30000, '--dsn', $t->dsn) or die;
}
ok wait_until(sub { scalar(() = $n->mails) == 1 }, 60),
    'the SMTP server accepted the mail';
kill 'KILL', $pid;
waitpid $pid, 0;
is $? & 127, 9, 'the sender died of SIGKILL before recording it';

is $t->value("SELECT state FROM notifications WHERE report_id = 301"),
    'sending', 'the notification is still claimed';
is $t->value("SELECT count(*) FROM notify_attempts"), 0, 'no attempt recorded';

# another sender, once the claim has run out
ok wait_until(sub {
    $t->value("SELECT lease_until < now() FROM notifications"
            . " WHERE report_id = 301") eq 't' }, 30), 'the claim runs out';
($rc, my $out, my $err) = $n->send_due;
is $rc, 0, 'the next sender runs' or diag $err;
is $t->value("SELECT state || ' ' || attempts FROM notifications"
           . " WHERE report_id = 301"), 'sent 2', 'sent, on its second claim';

my @mails = $n->mails;
is scalar @mails, 2, 'one duplicate, no more';
my @ids = map { /^Message-ID: (\S+)\r?$/m ? $1 : '' } @mails;
ok $ids[0] && $ids[0] eq $ids[1], 'both copies carry the same Message-ID';

($rc, $out) = $n->send_due;
is scalar(() = $n->mails), 2, 'a further sender sends nothing';

done_testing;
