# The test harness itself: the Test::Nginx::Socket sections our suites use,
# against plain nginx configurations.  It runs under t/driver or the real
# openresty Test::Nginx alike (scripts/test.sh picks), and must pass under
# both with the same test count.
use Test::Nginx::Socket 'no_plan';
use lib 't/helper';
use TrackTikTest;

no_shuffle();
my $cleaned;
add_cleanup_handler(sub { $cleaned = 1 });
run_tests();

__DATA__

=== TEST 1: return 202
--- config
    location = /t { return 202 "accepted\n"; }
--- request
GET /t
--- error_code: 202
--- response_body
accepted
--- no_error_log
[error]
[alert]



=== TEST 2: POST body is trimmed, Content-Length computed
--- config
    location = /len { return 200 "len=$content_length ct=$http_content_type\n"; }
--- more_headers
Content-Type: application/json
--- request
POST /len
   {"a": 1}   
--- response_body
len=8 ct=application/json



=== TEST 3: several requests in one block
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\$", "404 Not Found"]



=== TEST 4: more_headers, response_headers (and _like ignored when both)
--- config
    location = /h { add_header X-Echo $http_x_foo; return 200 "ok\n"; }
--- more_headers
X-Foo: bar
--- request
GET /h
--- response_headers
X-Echo: bar
!X-Missing
--- response_headers_like
Content-Type: text/.*



=== TEST 5: error_log with a missing file
--- config
    location /files/ { alias html/; }
--- request
GET /files/nope.txt
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*nope.txt" failed/, "No such file or directory"]



=== TEST 6: user_files served from html
--- user_files
>>> hello.txt
Hello, world
>>> sub/dir.txt
deep
--- config
    location = /unused { return 204; }
--- request eval
["GET /hello.txt", "GET /sub/dir.txt"]
--- response_body eval
["Hello, world\n", "deep\n"]



=== TEST 7: grep_error_log
--- config
    location = /g { return 200 "g\n"; }
--- request
GET /g
--- grep_error_log eval: qr/http uri: "[^"]+"/
--- grep_error_log_out
http uri: "/g"



=== TEST 8: truncated body, client shuts down its side
--- config
    location = /body {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
    }
    location = /sink { return 200 "sunk\n"; }
--- raw_request eval
"POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort"
--- shutdown: 1
--- ignore_response
--- error_log
client prematurely closed connection



=== TEST 9: helpers from eval sections, init
--- init
$main::init_ran = 'yes';
--- config
    location = /sig { add_header X-Sig $http_x_sig; return 200 "$http_x_sig\n"; }
--- more_headers eval
"X-Sig: " . tt_hmac_hex('sha256', 'Jefe', 'what do ya want for nothing?')
--- request
GET /sig
--- response_body eval
::tt_hmac_hex('sha256', 'Jefe', 'what do ya want for nothing?') . "\n"
--- response_headers
X-Sig: 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843



=== TEST 10: env expansion in response_body, main_config and http_config
--- main_config
    env TT_SAMPLE_ENV;
--- http_config
    map $uri $tt_port { default "$TEST_NGINX_SERVER_PORT"; }
--- config
    location = /p { return 200 "port=$tt_port\n"; }
--- request
GET /p
--- response_body
port=$TEST_NGINX_SERVER_PORT



=== TEST 11: raw_request split in packets with a delay
--- config
    location = /raw { return 200 "raw $request_method\n"; }
--- raw_request eval
["GET /raw HTTP/1.0\r\n", "Host: localhost\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
raw GET



=== TEST 12: wait and timeout sections
--- config
    location = /w { return 200 "w\n"; }
--- request
GET /w
--- wait: 0.1
--- timeout: 2s
--- response_body
w
