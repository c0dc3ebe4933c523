# The harness with a master process and two workers, a different log
# level, env_to_nginx, skip_nginx and error_code_like: the same fixed plan
# must hold under t/driver and the real Test::Nginx.
use Test::Nginx::Socket;

master_on();
workers(2);
log_level('info');
env_to_nginx('TT_HARNESS_ENV=from-the-harness');
no_shuffle();

plan tests => 2 + 2 + 3 + 2;

run_tests();

__DATA__

=== TEST 1: two worker processes under a master
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- grep_error_log eval: qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process



=== TEST 2: error_code_like and response_headers_like alone
--- config
    location = /t { add_header X-Worker $pid always; return 418 "teapot\n"; }
--- request
GET /t
--- error_code_like: ^41\d$
--- response_headers_like
X-Worker: \d+



=== TEST 3: skipped on every nginx newer than 1.0.0
--- skip_nginx: 3: > 1.0.0
--- config
    location = /t { return 200; }
--- request
GET /t
--- response_body
never checked



=== TEST 4: not skipped: nginx is newer than 1.0.0
--- skip_nginx: 2: < 1.0.0
--- config
    location = /t { return 200 "run\n"; }
--- request
GET /t
--- response_body
run
