# tracktik_portal_origin: the portal's public origin for the CSRF check,
# for a front proxy that rewrites Host.  Without it a POST must carry an
# Origin naming the request's own Host (either scheme); with it, the
# Origin must be one of the named origins exactly (scheme, host, port;
# case aside) and Host no longer counts.  Bad values fail nginx -t.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use IO::Socket::INET;
use Test::More;
use TrackTikLogin;
use TrackTikNginxConf;
use TrackTikTest;

my $tmp = File::Temp->newdir('tt-origin-XXXXXX', TMPDIR => 1);
my ($email, $password, $secret_file) = TrackTikLogin::user('origin',
                                                           $tmp->dirname);

# one server as browsers reach it (Host as sent), locations behind a
# front proxy with named origins, and a second server naming its origin
# at server level
my $port2 = TrackTikNginxConf::free_port();
my $ngx = TrackTikTest::Nginx->start(
    http => <<"HTTP",
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=2;
    tracktik_portal_password_cpu 100%;
    tracktik_session_secret_file $secret_file;

    server {
        listen 127.0.0.1:$port2;
        tracktik_portal_origin https://inherit.example.com;

        location /portal/api/ {
            tracktik_portal_api;
        }
    }
HTTP
    server => <<"SERVER");
        location /portal/api/ {
            tracktik_portal_api;
        }

        location /front/portal/api/ {
            tracktik_portal_origin https://portal.example.com;
            tracktik_portal_origin http://[::1]:8443;
            tracktik_portal_api;
        }
SERVER

my $port = $ngx->port;
my $creds = TrackTikLogin::creds($email, $password);

# a login POST, written by hand (HTTP::Tiny sends no Host of ours):
# (status, headers, body); Origin may be a list (sent once per value)
sub login {
    my ($path, %h) = @_;
    my $p = delete $h{port} // $port;
    my $host = delete $h{Host} // "127.0.0.1:$p";
    my @origins = ref $h{Origin} ? @{ $h{Origin} }
                : defined $h{Origin} ? ($h{Origin}) : ();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                  Timeout => 30) or die "connect: $!";
    print $s "POST $path HTTP/1.0\r\nHost: $host\r\n"
           . join('', map { "Origin: $_\r\n" } @origins)
           . "Content-Type: application/json\r\n"
           . 'Content-Length: ' . length($creds) . "\r\n\r\n$creds";
    my ($status, $head, $body) = TrackTikLogin::response($s);
    my %headers = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () }
                  split /\r\n/, $head;
    return ($status, \%headers, $body);
}

my $refused = '{"error":"cross-origin request refused"}';
my ($status, $headers, $body);

subtest 'no tracktik_portal_origin: the Origin of the Host' => sub {
    ($status, $headers) = login('/portal/api/login',
                                Origin => "http://127.0.0.1:$port");
    is $status, 200, 'Origin naming the Host: the login goes through';
    like $headers->{'set-cookie'} // '', qr/^tt_session=/, '... a session';

    ($status, undef, $body) = login('/portal/api/login',
                                    Host => 'backend.internal:8080',
                                    Origin => 'https://portal.example.com');
    is $status, 403, 'a proxy rewrote Host: the public Origin is refused';
    is $body, $refused, '... as cross-origin';
};

subtest 'tracktik_portal_origin: the named origins, Host aside' => sub {
    ($status, $headers) = login('/front/portal/api/login',
                                Host => 'backend.internal:8080',
                                Origin => 'https://portal.example.com');
    is $status, 200, 'the named origin behind a Host-rewriting proxy: 200';
    my ($cookie) = ($headers->{'set-cookie'} // '') =~ /^(tt_session=[^;]+)/;
    ok $cookie, '... with a session';
    ($status) = tt_get("http://127.0.0.1:$port/front/portal/api/me",
                       { Cookie => $cookie // '' });
    is $status, 200, '... that the API accepts (GET needs no Origin)';

    ($status) = login('/front/portal/api/login',
                      Origin => 'HTTPS://Portal.Example.COM');
    is $status, 200, 'case does not matter';

    ($status) = login('/front/portal/api/login',
                      Origin => 'http://[::1]:8443');
    is $status, 200, 'the second named origin: 200';

    for my $origin ('http://portal.example.com',
                    'https://portal.example.com:8443',
                    'https://portal.example.com.evil.test',
                    'https://evil.test', 'null',
                    "http://127.0.0.1:$port") {
        ($status, undef, $body) = login('/front/portal/api/login',
                                        Origin => $origin);
        is "$status $body", "403 $refused", "Origin $origin: refused";
    }

    ($status) = login('/front/portal/api/login');
    is $status, 403, 'no Origin: refused';
    ($status) = login('/front/portal/api/login',
                      Origin => ['https://portal.example.com',
                                 'https://portal.example.com']);
    is $status, 403, 'two Origin headers: refused';
};

subtest 'set at server level, inherited by the API location' => sub {
    ($status) = login('/portal/api/login', port => $port2,
                      Origin => 'https://inherit.example.com');
    is $status, 200, 'the server\'s named origin: 200';
    ($status) = login('/portal/api/login', port => $port2,
                      Origin => "http://127.0.0.1:$port2");
    is $status, 403, 'the Host\'s origin there: refused';
};

$ngx->stop;

# --- nginx -t on the directive's values

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $module = (split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || ''))[0]
             || tt_repo() . '/build/ngx_http_tracktik_module.so';

sub nginx_t {
    my ($origin) = @_;
    my $dir = File::Temp->newdir('tt-origin-conf-XXXXXX', TMPDIR => 1);
    my $p = $dir->dirname;
    mkdir "$p/$_" for qw(conf logs);
    TrackTikNginxConf::write_file("$p/conf/nginx.conf", prefix => $p,
        module => $module, listen => '127.0.0.1:1', server => <<"SERVER");
location /portal/api/ {
    tracktik_portal_origin $origin;
}
SERVER
    my $out = `$nginx -t -p $p/ -e $p/logs/error.log -c $p/conf/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}

for my $good ('https://portal.example.com', 'http://portal.example.com:8080',
              'https://[2001:db8::1]', 'https://10.0.0.5:443',
              'https://a.example https://b.example') {
    my ($rc, $out) = nginx_t($good);
    is $rc, 0, "nginx -t accepts $good" or diag $out;
}

for my $bad ('https://portal.example.com/', 'portal.example.com',
             'https://', 'https://:443', 'https://portal.example.com:0',
             'https://portal.example.com:65536', 'https://user@portal.test',
             'ftp://portal.example.com', 'https://portal.test/portal',
             'https://[::1', 'https://portal.test:8443x', '*') {
    my ($rc, $out) = nginx_t("'$bad'");
    isnt $rc, 0, "nginx -t refuses $bad";
    like $out, qr/invalid origin "\Q$bad\E" in "tracktik_portal_origin": .*nginx\.conf:\d+/,
        '... saying why, with file and line';
}

done_testing;
