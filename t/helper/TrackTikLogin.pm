package TrackTikLogin;

# Portal logins sent on connections of their own, for the suites that
# send many at once (t/login.t, t/login_throttle.t):
#
#   my $ngx = TrackTikLogin::nginx($secret_file);
#   my $s = TrackTikLogin::send($ngx, $email, $password, $from);
#   my ($status, $head, $body) = TrackTikLogin::response($s);
#
# nginx() starts a TrackTikTest::Nginx (a master, one worker) serving the
# portal API with the password thread at a whole core, behind a load
# balancer on 127.0.0.1 that names the client in X-Forwarded-For.
# send() writes the whole request and returns the socket unread; $from,
# when given, is sent as X-Forwarded-For.

use strict;
use warnings;

use IO::Socket::INET;

use TrackTikTest ();

sub nginx {
    my ($secret_file) = @_;
    return TrackTikTest::Nginx->start(
        master => 1,
        http => <<"HTTP",
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2;
    tracktik_portal_password_cpu 100%;
HTTP
        server => <<"SERVER");
        tracktik_session_secret_file $secret_file;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        location /portal/api/ {
            tracktik_portal_api;
        }
SERVER
}

sub creds { qq({"email":"$_[0]","password":"$_[1]"}) }

# A portal user of a client of its own, no login failures left from
# 127.0.0.1, and a session secret file in $dir: (email, password, file)
sub user {
    my ($tag, $dir) = @_;
    my $run = time() . $$;
    my ($email, $password) = ("$tag.$run\@client.test", "$tag password $$");
    TrackTikTest::tt_sql("SELECT portal_user_add('$email', '$password', "
                         . "'client', " . ($$ * 10 + 3) . ", NULL)");
    TrackTikTest::tt_sql("DELETE FROM portal_login_failures "
                         . "WHERE ip = '127.0.0.1'");
    TrackTikTest::tt_write_file("$dir/session.secret",
                                "session-secret-$run-0123456789abcdef\n");
    return ($email, $password, "$dir/session.secret");
}

sub send {
    my ($ngx, $email, $password, $from) = @_;
    my $body = creds($email, $password);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port, Timeout => 30)
        or die "connect: $!";
    print $s "POST /portal/api/login HTTP/1.0\r\n"
           . "Host: 127.0.0.1:" . $ngx->port . "\r\n"
           . "Origin: http://127.0.0.1:" . $ngx->port . "\r\n"
           . (defined $from ? "X-Forwarded-For: $from\r\n" : '')
           . "Content-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    return $s;
}

sub response {
    my ($s) = @_;
    local $/;
    my $text = <$s> // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $text, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $head // '', $body // '');
}

1;
