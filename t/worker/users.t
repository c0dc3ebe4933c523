#!/usr/bin/perl
# tracktik-worker users: portal users from the command line, passwords
# from standard input only, sessions ended by passwd and disable, and bad
# input refused with a clear message that changes nothing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run timeout);
use TTWorker;
use lib "$FindBin::Bin/../helper";
use TrackTikTest ();

my $db = TTWorker->new('users');
my $bin = TTWorker::binary();

# the command with a password on stdin: (exit code, stdout, stderr)
sub users {
    my ($stdin, @args) = @_;
    my ($out, $err) = ('', '');
    # a command refused for its arguments exits without reading stdin
    local $SIG{PIPE} = 'IGNORE';
    run([ $bin, 'users', @args, '--dsn', $db->dsn ], \$stdin, \$out, \$err,
        timeout(60));
    return ($? >> 8, $out, $err);
}

# a login through the portal's own SQL: the HTTP status it would answer
sub login {
    my ($email, $password) = @_;
    return $db->value("SELECT status FROM ("
                      . TrackTikTest::tt_login_sql($email, $password,
                                                   '10.0.0.1', 60)
                      . ") l");
}

my $pw = 'a long enough password';

my ($rc, $out, $err) = users("$pw\n", 'add', 'pm@client.test',
                             '--client', '42', '--sites', '1042,1043');
is $rc, 0, 'a client user is added' or diag $err;
like $out, qr/added client user pm\@client\.test of client 42/, 'and says so';
is_deeply [ $db->rows("SELECT role, client_id, site_ids FROM portal_users "
                      . "WHERE email = 'pm\@client.test'") ],
    [ [ 'client', '42', '{1042,1043}' ] ], 'stored with its client and sites';
unlike $db->value("SELECT password_hash FROM portal_users"), qr/\Q$pw\E/,
    'the password is stored hashed';
like $db->value("SELECT password_hash FROM portal_users"), qr/^\$2a\$10\$/,
    '... with bcrypt';
is login('pm@client.test', $pw), 200, 'the user can log in';

($rc, $out, $err) = users("ops password 123\n", 'add', 'ops@guards.test',
                          '--operator');
is $rc, 0, 'an operator is added' or diag $err;

my %bad = (
    'neither --client nor --operator' => [ "$pw\n", 'add', 'x@y.test' ],
    'both --client and --operator' =>
        [ "$pw\n", 'add', 'x@y.test', '--client', '1', '--operator' ],
    'a client id that is not a number' =>
        [ "$pw\n", 'add', 'x@y.test', '--client', '1;DROP' ],
    'a malformed site list' =>
        [ "$pw\n", 'add', 'x@y.test', '--client', '1', '--sites', '1,,2' ],
    'sites for an operator' =>
        [ "$pw\n", 'add', 'x@y.test', '--operator', '--sites', '1' ],
    'not an email address' => [ "$pw\n", 'add', 'nobody', '--operator' ],
);

for my $case (sort keys %bad) {
    ($rc, $out, $err) = users(@{ $bad{$case} });
    is $rc, 2, "$case: refused (exit 2)";
    like $err, qr/tracktik-worker: /, "$case: with a message";
}

($rc, undef, $err) = users("short\n", 'add', 'short@client.test',
                           '--client', '7');
is $rc, 1, 'a short password is refused';
like $err, qr/at least 10 characters/, '... saying why';
unlike $err, qr/short\b(?!\@)/, '... without echoing it';

($rc, undef, $err) = users("", 'add', 'empty@client.test', '--client', '7');
is $rc, 1, 'no password on stdin is refused';
like $err, qr/no password on standard input/, '... saying so';

($rc, undef, $err) = users("$pw\n", 'add', 'PM@client.test', '--client', '9');
is $rc, 1, 'the same email in another case is a duplicate';
like $err, qr/already exists/, '... saying so';
is $db->value("SELECT count(*) FROM portal_users"), 2,
    'none of the refused commands added a user';

# passwd ends open sessions
my $token = $db->value("SELECT next FROM ("
                       . TrackTikTest::tt_login_sql('pm@client.test', $pw,
                                                    '10.0.0.1', 600)
                       . ") l");
is $db->value("SELECT (portal_session_user('$token')).id IS NOT NULL"), 't',
    'a session is open';
($rc, $out, $err) = users("the new password 2\n", 'passwd',
                          'pm@client.test');
is $rc, 0, 'passwd succeeds' or diag $err;
is $db->value("SELECT (portal_session_user('$token')).id IS NOT NULL"), 'f',
    'passwd ended the open session';
is login('pm@client.test', $pw), 401, 'the old password no longer works';
is login('pm@client.test', 'the new password 2'), 200, 'the new one does';

($rc, undef, $err) = users("whatever password\n", 'passwd',
                           'ghost@client.test');
is $rc, 1, 'passwd of an unknown user fails';
like $err, qr/no portal user ghost\@client\.test/, '... naming it';

# disable
$token = $db->value("SELECT next FROM ("
                    . TrackTikTest::tt_login_sql('ops@guards.test',
                                                 'ops password 123',
                                                 '10.0.0.1', 600)
                    . ") l");
($rc, $out, $err) = users('', 'disable', 'ops@guards.test');
is $rc, 0, 'disable succeeds' or diag $err;
is $db->value("SELECT (portal_session_user('$token')).id IS NOT NULL"), 'f',
    'disable ended the open session';
is login('ops@guards.test', 'ops password 123'), 401,
    'a disabled user cannot log in';

($rc, $out, $err) = users('', 'list');
is $rc, 0, 'list succeeds';
like $out, qr/^ops\@guards\.test\toperator\t-\t-\tdisabled$/m,
    'list shows the disabled operator';
like $out, qr/^pm\@client\.test\tclient\t42\t1042,1043\tactive$/m,
    'and the client user with its sites';

# the run loop's housekeeping prunes what logins leave behind
my $uid = $db->value("SELECT id FROM portal_users WHERE email = 'pm\@client.test'");
$db->rows("INSERT INTO portal_sessions (id, user_id, expires_at, revoked_at)"
          . " VALUES ('expired-$$', $uid, now() - interval '1 minute', NULL),"
          . " ('revoked-$$', $uid, now() + interval '1 hour', now()),"
          . " ('live-$$', $uid, now() + interval '1 hour', NULL)");
$db->rows("INSERT INTO portal_login_failures (at, email, ip)"
          . " VALUES (now() - interval '2 hours', 'old\@client.test', '10.9.9.9'),"
          . " (now(), 'new\@client.test', '10.9.9.9')");
my ($drc, $log) = $db->drain;
is $drc, 0, 'run --drain exits 0' or diag $log;
is_deeply [ map { $_->[0] } $db->rows("SELECT id FROM portal_sessions"
                                      . " WHERE id LIKE '%-$$' ORDER BY id") ],
    [ "live-$$" ], 'expired and revoked sessions pruned, the live one kept';
is_deeply [ map { $_->[0] } $db->rows("SELECT email FROM portal_login_failures"
                                      . " WHERE ip = '10.9.9.9'") ],
    [ 'new@client.test' ], 'login attempts older than an hour pruned';
like $log, qr/event=portal_pruned sessions=[1-9]\d* login_attempts=[1-9]/,
    'and said so';

done_testing();
