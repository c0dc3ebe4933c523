#!/usr/bin/perl
# The SMTP relay: STARTTLS is required of a relay off this host (the mail
# is not sent to one that does not offer it); AUTH comes from a file, and
# the password never reaches the log.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use Test::More;
use TTWorker;
use TTNotify;

my $t = TTWorker->new('notify_smtp');
my $n = TTNotify->new($t);

$n->load({
    recipients => { ops => { email => 'ops@client3.example' } },
    rules => [ { id => 'c3', match => { client => [3] }, notify => ['ops'] } ],
});

my $next = 600;
sub queue_one {
    my $id = $next++;
    $t->enqueue([ "s-$id", report_json(id => $id) ]);
    my ($rc, $log) = $t->drain;
    die "drain failed: $log" unless $rc == 0;
    return $id;
}

sub state_of {
    $t->value("SELECT state FROM notifications WHERE report_id = $_[0]");
}

sub server {
    my ($name, @args) = @_;
    my $dir = "$t->{dir}/$name";
    make_path($dir);
    return TTNotify::_start($dir, "$FindBin::Bin/lib/tt_smtp_server.py",
                            $dir, 0, @args);
}

sub files { opendir my $d, $_[0] or die; scalar grep { /\.eml$/ } readdir $d }

subtest 'a relay off this host without STARTTLS gets nothing' => sub {
    my ($ip) = grep { /^\d+\.\d+\.\d+\.\d+$/ && !/^127\./ }
               split ' ', (`hostname -I 2>/dev/null` || '');
    plan skip_all => 'no non-loopback IPv4 address here' unless $ip;
    my $port = server('remote', $ip);
    my $id = queue_one();
    my ($rc, $out, $err) = $t->worker('notify', 'run', '--drain',
        '--smtp-url', "smtp://$ip:$port", '--smtp-from', 'a@guards.example',
        '--backoff-base-s', 60);
    is $rc, 0, 'notify run exits 0' or diag $err;
    like $out, qr/failed/, 'the attempt failed';
    is files("$t->{dir}/remote"), 0, 'the relay received no mail';
    like $t->value("SELECT detail FROM notify_attempts ORDER BY id DESC LIMIT 1"),
        qr/SSL|TLS/i, 'the log says TLS was missing';
    is state_of($id), 'pending', 'the notification waits for a retry';
    $t->rows("UPDATE notifications SET state = 'sent' WHERE report_id = $id");
};

my $auth_port = server('auth', '127.0.0.1', 'mailer:s3cret-pass-42');
my @relay = ('--smtp-url', "smtp://127.0.0.1:$auth_port",
             '--smtp-from', 'a@guards.example', '--backoff-base-s', 60);

subtest 'AUTH from --smtp-auth-file' => sub {
    my $id = queue_one();
    my $file = $t->file('smtp.auth', "mailer:s3cret-pass-42\n");
    my ($rc, $out, $err) = $t->worker('notify', 'run', '--drain', @relay,
                                      '--smtp-auth-file', $file);
    is $rc, 0, 'exits 0' or diag $err;
    is state_of($id), 'sent', 'sent after AUTH';
    is files("$t->{dir}/auth"), 1, 'the relay has the mail';
};

subtest 'a wrong password or none: refused, and never logged' => sub {
    my $id = queue_one();
    my $file = $t->file('bad.auth', "mailer:wrong-pass-77\n");
    my ($rc, $out, $err) = $t->worker('notify', 'run', '--drain', @relay,
                                      '--smtp-auth-file', $file);
    is state_of($id), 'pending', 'not sent with a wrong password';
    $t->rows("UPDATE notifications SET next_attempt_at = now()"
           . " WHERE report_id = $id");
    ($rc, $out, $err) = $t->worker('notify', 'run', '--drain', @relay);
    is state_of($id), 'pending', 'nor without AUTH';
    is files("$t->{dir}/auth"), 1, 'the relay has no new mail';
    ($rc, $out, $err) = $t->worker('notify', 'log', '--limit', 10);
    unlike $out . $err, qr/wrong-pass|s3cret-pass/, 'no password in the log';
    unlike join('', map { @$_ } $t->rows("SELECT detail FROM notify_attempts")),
        qr/wrong-pass|s3cret-pass/, 'nor in the attempts table';
};

subtest 'a bad AUTH file or relay URL is refused before anything is sent' => sub {
    my $file = $t->file('nocolon.auth', "mailer\n");
    my ($rc, $out, $err) = $t->worker('notify', 'run', '--drain', @relay,
                                      '--smtp-auth-file', $file);
    is $rc, 1, 'exit 1';
    like $err, qr/expected one line USER:PASSWORD/, 'saying what the file needs';
    ($rc, $out, $err) = $t->worker('notify', 'run', '--drain',
        '--smtp-url', 'http://relay.example', '--smtp-from', 'a@guards.example');
    is $rc, 2, 'a relay URL that is not smtp:// is a usage error';
    ($rc, $out, $err) = $t->worker('notify', 'run', '--drain',
        '--smtp-url', "smtp://127.0.0.1:$auth_port", '--smtp-from', 'nobody');
    is $rc, 2, 'so is a sender that is not an address';
};

subtest 'run --notify: the worker daemon sends them too' => sub {
    my $before = scalar(() = $n->mails);
    $t->enqueue([ 'daemon-1', report_json(id => 700) ]);
    my ($rc, $log) = $t->drain('--notify',
        '--smtp-url', "smtp://127.0.0.1:$n->{smtp_port}",
        '--smtp-from', 'alerts@guards.example');
    is $rc, 0, 'run --drain --notify exits 0' or diag $log;
    is state_of(700), 'sent', 'the report recorded and its mail sent';
    is scalar(() = $n->mails), $before + 1, 'the SMTP server has it';
    like $log, qr/event=notification id=\d+ channel=email .* ok=1 status=250/,
        'the worker logs the attempt';

    $t->enqueue([ 'daemon-2', report_json(id => 701) ]);
    ($rc, $log) = $t->drain;
    is state_of(701), 'pending', 'without --notify, run leaves it queued';
};

done_testing;
