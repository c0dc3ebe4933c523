# vi:filetype=perl
#
# The webhook endpoint as TrackTik (and any sender) sees it: every response
# code, every signature scheme, secret rotation, redelivery, bodies spilled
# to a temporary file, and secrets kept out of the error log.
#
# A delivery that was refused must leave nothing behind: the blocks that
# refuse one send the same body correctly signed right after, and expect
# 202 "queued" (a stored job would make it 200 "duplicate").

use lib 't/helper';
use Test::Nginx::Socket 'no_plan';
use TrackTikTest;

no_shuffle();

our $Secret1 = 'tt-first-secret-' . $$;
our $Secret2 = 'tt-second-secret-' . $$;
our $Run = time() . $$;
our $Seq = 0;

$ENV{TEST_NGINX_SECRET_1} = $Secret1;
$ENV{TEST_NGINX_SECRET_2} = $Secret2;

# a fresh, unique report entity
sub report {
    my (%over) = @_;
    $Seq++;
    return tt_sample_report(id => 0 + "$Run$Seq", %over);
}

sub post { "POST /webhooks/tracktik\n" . $_[0] }

sub signed {
    my ($body, $secret, $alg, $header) = @_;
    $secret //= $Secret1;
    $alg //= 'sha512';
    $header //= 'TrackTik-Subscription-Secret';
    return "Content-Type: application/json\n"
           . "$header: " . tt_hmac_hex($alg, $secret, $body) . "\n";
}

sub standard {
    my ($body, $secret, $id, $ts) = @_;
    $ts //= time();
    return "Content-Type: application/json\n"
           . "webhook-id: $id\n"
           . "webhook-timestamp: $ts\n"
           . "webhook-signature: "
           . tt_standard_signature($secret, $id, $ts, $body) . "\n";
}

# Standard Webhooks mode, with the spec's example secret
our $Whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $StandardFiles = ">>> tracktik.secret\n$Whsec\n";
our $StandardConfig = <<'_EOC_';
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_auth standard;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
_EOC_

our @Body = map { report() } 1 .. 24;
our $Big = report(narrative => 'y' x 60000);
our $Chunked = report();
our $ChunkedBig = report(narrative => 'w' x 60000);

# the body in two chunks, then the last, empty one
sub chunked {
    my ($body) = @_;
    my $half = int(length($body) / 2);
    return join '', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
               substr($body, 0, $half), substr($body, $half), '';
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config',
            'tracktik_postgres "$TEST_NGINX_TRACKTIK_DSN" pool=2;');
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
_EOC_
    }

    if (!defined $block->user_files) {
        $block->set_value('user_files', <<"_EOF_");
>>> tracktik.secret
$Secret1
$Secret2
_EOF_
    }
});

run_tests();

__DATA__

=== TEST 1: a delivery signed with HMAC-SHA512 is queued (202 with the job id)
--- request eval: ::post($::Body[0])
--- more_headers eval: ::signed($::Body[0])
--- error_code: 202
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"status":"queued","job":\d+\}$
--- no_error_log
[error]
[alert]



=== TEST 2: a redelivery of the same bytes is a duplicate (200), not a second job
--- request eval: [::post($::Body[1]), ::post($::Body[1])]
--- more_headers eval: [::signed($::Body[1]), ::signed($::Body[1])]
--- error_code eval: [202, 200]
--- response_body_like eval: [qr/^\{"status":"queued","job":\d+\}$/, qr/^\{"status":"duplicate"\}$/]
--- no_error_log
[error]



=== TEST 3: the second secret in the file is accepted (rotation)
--- request eval: ::post($::Body[2])
--- more_headers eval: ::signed($::Body[2], $::Secret2)
--- error_code: 202
--- response_body_like: "queued"



=== TEST 4: a wrong signature is refused with 401 and stores nothing
--- request eval: [::post($::Body[3]), ::post($::Body[3])]
--- more_headers eval: [::signed($::Body[3], 'not-the-secret'), ::signed($::Body[3])]
--- error_code eval: [401, 202]
--- response_body_like eval: [qr/"status":"unauthorized"/, qr/"status":"queued"/]
--- no_error_log
[error]



=== TEST 5: a wrong signature is logged at info level, without the secret
--- request eval: ::post($::Body[21])
--- more_headers eval: ::signed($::Body[21], 'not-the-secret')
--- error_code: 401
--- error_log
tracktik webhook: signature mismatch
--- no_error_log eval
[qr/\Q$::Secret1\E/, qr/\[error\]/]



=== TEST 6: a missing signature header is refused with 401
--- request eval: ::post($::Body[4])
--- more_headers
Content-Type: application/json
--- error_code: 401
--- error_log
no "TrackTik-Subscription-Secret" header



=== TEST 7: a signature over different bytes is refused (the HMAC covers the raw body)
--- request eval: ::post($::Body[5] =~ s/"id"/"Id"/r)
--- more_headers eval: ::signed($::Body[5])
--- error_code: 401



=== TEST 8: GET is answered 405 with Allow: POST
--- request
GET /webhooks/tracktik
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: only POST



=== TEST 9: a non-JSON content type is refused with 415 and stores nothing
--- request eval: [::post($::Body[6]), ::post($::Body[6])]
--- more_headers eval
["Content-Type: text/plain\nTrackTik-Subscription-Secret: " . tt_hmac_hex('sha512', $::Secret1, $::Body[6]) . "\n", ::signed($::Body[6])]
--- error_code eval: [415, 202]



=== TEST 10: a missing content type is refused with 415
--- request eval: ::post($::Body[7])
--- more_headers eval
"TrackTik-Subscription-Secret: " . tt_hmac_hex('sha512', $::Secret1, $::Body[7]) . "\n"
--- error_code: 415



=== TEST 11: application/json with a charset parameter is accepted
--- request eval: ::post($::Body[8])
--- more_headers eval
"Content-Type: application/json; charset=utf-8\nTrackTik-Subscription-Secret: " . tt_hmac_hex('sha512', $::Secret1, $::Body[8]) . "\n"
--- error_code: 202



=== TEST 12: malformed JSON is refused with 400
--- request eval: ::post('{"id": 1, "reportFlag":')
--- more_headers eval: ::signed('{"id": 1, "reportFlag":')
--- error_code: 400
--- response_body_like: "status":"rejected","error":"the body is not valid JSON"



=== TEST 13: a JSON array is not a report entity: 400
--- request eval: ::post('[{"id": 1}]')
--- more_headers eval: ::signed('[{"id": 1}]')
--- error_code: 400
--- response_body_like: body is not a JSON object



=== TEST 14: an empty body is refused with 400
--- request eval: ::post('')
--- more_headers eval: ::signed('')
--- error_code: 400
--- response_body_like: the body is empty



=== TEST 15: a \u0000 escape, which jsonb cannot store, is stored as bytes: 202
--- request eval: ::post(qq'{"id": $::Run, "narrative": "a\\u0000b"}')
--- more_headers eval: ::signed(qq'{"id": $::Run, "narrative": "a\\u0000b"}')
--- error_code: 202
--- response_body_like: ^\{"status":"stored","dead_letter":\d+\}$



=== TEST 16: trailing garbage after the object is refused with 400
--- request eval: ::post('{"id": 1} {"id": 2}')
--- more_headers eval: ::signed('{"id": 1} {"id": 2}')
--- error_code: 400



=== TEST 17: a body over client_max_body_size is refused with 413
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_secret_file ../html/tracktik.secret;
        client_max_body_size 1k;
    }
--- request eval: ::post($::Body[9] =~ s/"id"/"padding":"@{['x' x 2000]}","id"/r)
--- more_headers eval: ::signed($::Body[9] =~ s/"id"/"padding":"@{['x' x 2000]}","id"/r)
--- error_code: 413



=== TEST 18: a body spilled to a temporary file with a valid signature is queued
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_secret_file ../html/tracktik.secret;
        client_body_buffer_size 1k;
        client_max_body_size 1m;
    }
--- request eval: ::post($::Big)
--- more_headers eval: ::signed($::Big)
--- error_code: 202
--- response_body_like: "queued"
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 19: hmac_sha256 with a custom header (the Express integration's scheme)
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_auth hmac_sha256;
        tracktik_webhook_header X-TrackTik-Signature;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
--- request eval: [::post($::Body[11]), ::post($::Body[11])]
--- more_headers eval: [::signed($::Body[11], $::Secret1, 'sha512', 'X-TrackTik-Signature'), ::signed($::Body[11], $::Secret2, 'sha256', 'X-TrackTik-Signature')]
--- error_code eval: [401, 202]



=== TEST 20: static mode compares the header with the secret itself
--- log_level: info
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_auth static;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
--- request eval: [::post($::Body[12]), ::post($::Body[12]), ::post($::Body[12])]
--- more_headers eval
["Content-Type: application/json\nTrackTik-Subscription-Secret: $::Secret1 x\n",
 "Content-Type: application/json\nTrackTik-Subscription-Secret: $::Secret2\n",
 "Content-Type: application/json\nTrackTik-Subscription-Secret: $::Secret2\n"]
--- error_code eval: [401, 202, 200]
--- no_error_log eval
[qr/\Q$::Secret1\E/, qr/\Q$::Secret2\E/]



=== TEST 21: Standard Webhooks: a whsec_ secret, and webhook-id as the redelivery key
--- user_files eval: $::StandardFiles
--- config eval: $::StandardConfig
--- request eval: [::post($::Body[13]), ::post($::Body[14])]
--- more_headers eval
[::standard($::Body[13], $::Whsec, "msg_$::Run"),
 ::standard($::Body[14], $::Whsec, "msg_$::Run")]
--- error_code eval: [202, 200]
--- response_body_like eval: [qr/"queued"/, qr/"duplicate"/]



=== TEST 22: Standard Webhooks: any signature in the list may match (rotation)
--- user_files eval: $::StandardFiles
--- config eval: $::StandardConfig
--- request eval: ::post($::Body[15])
--- more_headers eval
my $ts = time();
my $good = tt_standard_signature($::Whsec, "msg_b$::Run", $ts, $::Body[15]);
"Content-Type: application/json\nwebhook-id: msg_b$::Run\nwebhook-timestamp: $ts\n"
. "webhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= $good\n"
--- error_code: 202



=== TEST 23: Standard Webhooks: a timestamp more than 5 minutes old is refused
--- user_files eval: $::StandardFiles
--- config eval: $::StandardConfig
--- request eval: [::post($::Body[16]), ::post($::Body[16]), ::post($::Body[16])]
--- more_headers eval
[::standard($::Body[16], $::Whsec, "msg_c$::Run", time() - 400),
 ::standard($::Body[16], $::Whsec, "msg_c$::Run", time() + 400),
 ::standard($::Body[16], $::Whsec, "msg_c$::Run", time() - 200)]
--- error_code eval: [401, 401, 202]



=== TEST 24: Standard Webhooks: a stale timestamp is explained in the error log
--- user_files eval: $::StandardFiles
--- config eval: $::StandardConfig
--- request eval: ::post($::Body[22])
--- more_headers eval
::standard($::Body[22], $::Whsec, "msg_e$::Run", time() - 4000)
--- error_code: 401
--- error_log
webhook-timestamp is not within 300 s



=== TEST 25: Standard Webhooks: the tolerance is configurable
--- user_files eval: $::StandardFiles
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_auth standard;
        tracktik_webhook_tolerance 30s;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
--- request eval: ::post($::Body[17])
--- more_headers eval
::standard($::Body[17], $::Whsec, "msg_d$::Run", time() - 60)
--- error_code: 401



=== TEST 26: Standard Webhooks: missing webhook headers are refused
--- user_files eval: $::StandardFiles
--- config eval: $::StandardConfig
--- request eval: ::post($::Body[18])
--- more_headers eval: ::signed($::Body[18])
--- error_code: 401
--- error_log
webhook-signature header is missing



=== TEST 27: no secret ever reaches the error log, even at debug level
--- request eval: [::post($::Body[19]), ::post($::Body[19])]
--- more_headers eval: [::signed($::Body[19], $::Secret1 . 'x'), ::signed($::Body[19], $::Secret2)]
--- error_code eval: [401, 202]
--- no_error_log eval
[qr/\Q$::Secret1\E/, qr/\Q$::Secret2\E/, qr/\[alert\]/]



=== TEST 28: $tracktik_job_id and $tracktik_webhook_result for the access log
--- http_config
    tracktik_postgres "$TEST_NGINX_TRACKTIK_DSN";
    log_format tt 'tracktik=$tracktik_webhook_result job=$tracktik_job_id';
--- config
    location = /webhooks/tracktik {
        access_log logs/tt.log tt;
        tracktik_webhook;
        tracktik_webhook_secret_file ../html/tracktik.secret;
    }
    location = /tt.log {
        alias logs/tt.log;
    }
--- request eval: [::post($::Body[20]), "GET /tt.log"]
--- more_headers eval: [::signed($::Body[20]), ""]
--- error_code eval: [202, 200]
--- response_body_like eval: [qr/"queued"/, qr/^tracktik=queued job=\d+$/m]



=== TEST 29: a chunked body (Transfer-Encoding: chunked) is read whole and queued
--- request eval: ::post(::chunked($::Chunked))
--- more_headers eval: ::signed($::Chunked) . "Transfer-Encoding: chunked\n"
--- error_code: 202
--- response_body_like: "queued"
--- no_error_log
[error]



=== TEST 30: a chunked body spilled to a temporary file is queued
--- config
    location = /webhooks/tracktik {
        tracktik_webhook;
        tracktik_webhook_secret_file ../html/tracktik.secret;
        client_body_buffer_size 1k;
        client_max_body_size 1m;
    }
--- request eval: ::post(::chunked($::ChunkedBig))
--- more_headers eval: ::signed($::ChunkedBig) . "Transfer-Encoding: chunked\n"
--- error_code: 202
--- response_body_like: "queued"
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 31: a form feed or vertical tab between tokens is not JSON: 400
--- request eval: ::post("{\"id\":\x0b1,\x0c\"a\": 2}")
--- more_headers eval: ::signed("{\"id\":\x0b1,\x0c\"a\": 2}")
--- error_code: 400
--- response_body_like: "status":"rejected","error":"the body is not valid JSON"



=== TEST 32: an unfinished string after the object is not JSON: 400
--- request eval: ::post('{"id": 1} "abc')
--- more_headers eval: ::signed('{"id": 1} "abc')
--- error_code: 400
--- response_body_like: "status":"rejected","error":"the body is not valid JSON"
