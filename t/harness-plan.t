# The harness with a fixed plan: repeat_each, plan tests => N and a block
# preprocessor must give the same count under t/driver and the real one.
use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * (blocks() * 3 + 1);

no_shuffle();
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->no_error_log && !defined $block->error_log) {
        $block->set_value("no_error_log", "[error]");
    }
});
run_tests();

__DATA__

=== TEST 1: 202 with body
--- config
    location = /t { return 202 "queued\n"; }
--- request
POST /t
{"x":1}
--- error_code: 202
--- response_body
queued



=== TEST 2: 413 on a too large body
--- config
    location = /t { client_max_body_size 10; return 202 "queued\n"; }
--- request eval
"POST /t\n" . ("x" x 100)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large
--- error_log
client intended to send too large body
--- no_error_log
[alert]
