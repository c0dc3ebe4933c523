package TrackTikLogin;

# Portal logins sent on connections of their own, for the suites that
# send many at once (t/login.t, t/login_throttle.t):
#
#   my $s = TrackTikLogin::send($ngx, $email, $password, $from);
#   my ($status, $head, $body) = TrackTikLogin::response($s);
#
# send() writes the whole request and returns the socket unread; $from,
# when given, is sent as X-Forwarded-For (the client's address for an
# nginx that trusts 127.0.0.1 with real_ip_header X-Forwarded-For).

use strict;
use warnings;

use IO::Socket::INET;

sub creds { qq({"email":"$_[0]","password":"$_[1]"}) }

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
