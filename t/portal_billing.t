# vi:filetype=perl
#
# The portal's billing page API (GET /portal/api/billing,
# sql/functions/portal_billing.sql): operators see billing lines with
# quantity x price = amount, their state (in_doubt included) and totals
# per client and bill code, filtered; a client's user gets 403, no
# session 401, a malformed filter 400.
#
# Fixtures below: two clients of this run (ids unique to the run), a
# ledger row per report, a rule set, and billing lines as the worker
# writes them, then posted, failed or left in doubt as the billing sync
# would leave them.

use lib 't/helper';
use Test::Nginx::Socket 'no_plan';
use TrackTikTest;

no_shuffle();

our $Run = time() % 100000000 * 100 + $$ % 100;
our $A = $Run * 10 + 1;
our $B = $Run * 10 + 2;
our ($SiteA, $SiteA2, $SiteB) = ($A * 10 + 1, $A * 10 + 2, $B * 10 + 1);
our $Secret = 'portal-session-secret-' . ('x' x 32) . $$;
our $Password = 'correct horse battery';
our $Code = "R$Run";              # a bill code only this run uses

sub ledger {
    my ($report, $client, $site) = @_;
    return tt_sql("INSERT INTO incidents_ledger (event_id, report_id,"
        . " version, occurred_at, client_id, site_id, status, time_zone,"
        . " raw, raw_sha256) VALUES ('pb:$report', $report, 1,"
        . " '2026-03-02T15:00:00Z', $client, $site, 'APPROVED', 'UTC',"
        . " '{}', 'x') RETURNING id");
}

our $Rules = tt_sql("INSERT INTO contract_rule_sets (effective_from, name,"
    . " document) VALUES ('2020-01-01', 'portal billing $Run', '{}')"
    . " RETURNING version");
tt_sql("INSERT INTO contract_rules VALUES ($Rules, 'r', 1, 1, 'ADH', '{}')");
# the rule gives no price for $Code: the bill item's default, 60
tt_sql("INSERT INTO tracktik_bill_items (bill_code, bill_item_id,"
       . " default_price) VALUES ('$Code', 701, 60)");

sub line {
    my ($key, $report, $ledger, $client, $site, $code, $qty, $price, $day,
        %o) = @_;
    my $kind = $o{credits} ? 'credit' : 'charge';
    return tt_sql("INSERT INTO billing_lines (idempotency_key, kind,"
        . " report_id, ledger_id, ledger_version, rule_set_version, rule_id,"
        . " bill_code, quantity, unit_price, service_date, client_id,"
        . " site_id, credits_line_id) VALUES ('pb:$Run:$key', '$kind',"
        . " $report, $ledger, 1, $Rules, 'r', '$code', $qty, "
        . ($price // 'NULL') . ", '$day', $client, $site, "
        . ($o{credits} // 'NULL') . ") RETURNING id");
}

our %R = map { $_ => $A * 100 + $_ } 1 .. 4;
$R{5} = $B * 100 + 5;
our %L = map { $_ => ledger($R{$_}, $_ == 5 ? $B : $A,
                            $_ == 5 ? $SiteB : $_ == 4 ? $SiteA2 : $SiteA) }
         1 .. 5;

our %Line;
$Line{posted} = line('p', $R{1}, $L{1}, $A, $SiteA, 'ADH', 1, 95, '2026-03-01');
$Line{credit} = line('c', $R{1}, $L{1}, $A, $SiteA, 'ADH', -1, 95, '2026-03-01',
                     credits => $Line{posted});
$Line{failed} = line('f', $R{2}, $L{2}, $A, $SiteA, 'ADH', 1, 95, '2026-03-02');
$Line{doubt} = line('d', $R{3}, $L{3}, $A, $SiteA, $Code, 1.5, undef, '2026-03-03');
$Line{site2} = line('s', $R{4}, $L{4}, $A, $SiteA2, $Code, 2, undef, '2026-03-10');
$Line{b} = line('b', $R{5}, $L{5}, $B, $SiteB, 'ADH', 2, 40, '2026-03-02');

tt_sql("UPDATE billing_lines SET state = 'posted', external_id = '9$Run'"
       . " WHERE id IN ($Line{posted}, $Line{credit})");
tt_sql("UPDATE billing_lines SET state = 'failed', last_error = 'TrackTik"
       . " refused the ad-hoc item: \"account\" is closed' WHERE id = $Line{failed}");
tt_sql("INSERT INTO tracktik_billing_attempts (line_id, attempts, in_doubt)"
       . " VALUES ($Line{doubt}, 1, true)");

tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

our %U = (ops => "ops.$Run\@guards.test", alice => "alice.$Run\@client-a.test");
tt_sql("SELECT portal_user_add('$U{ops}', '$Password', 'operator', NULL, NULL)");
tt_sql("SELECT portal_user_add('$U{alice}', '$Password', 'client', $A, NULL)");

our %C = map {
    $_ => tt_session_cookie(tt_sql("SELECT next FROM ("
              . tt_login_sql($U{$_}, $Password, '127.0.0.9', 3600) . ") l"),
          $Secret)
} keys %U;

sub get { "GET /portal/api/billing$_[0]" }
sub as { "Cookie: $C{$_[0]}\n" }

# the JSON of one line, as json_build_object writes it
sub item {
    my ($id, $state, $kind, $qty, $price, $amount) = @_;
    return qr/\{"id" : $id, "state" : "$state", "kind" : "$kind", "service_date" : "[-0-9]+", "client_id" : \d+, "site_id" : \d+, "bill_code" : "[A-Z0-9]+", "quantity" : $qty, "unit_price" : $price, "amount" : $amount, /;
}

sub total {
    my ($client, $code, $lines, $qty, $amount) = @_;
    return qr/\{"client_id" : $client, "bill_code" : $code, "grand_total" : (?:true|false), "lines" : $lines, "quantity" : $qty, "amount" : $amount, "unpriced" : 0\}/;
}

my $portal_blocks = tt_portal_api_blocks($Secret);
add_block_preprocessor(sub { $portal_blocks->(@_) });

run_tests();

__DATA__

=== TEST 1: an operator sees a client's lines: states, amount = quantity x price
--- request eval: ::get("?client=$::A")
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
my $i = CORE::join '.*', ::item($::Line{site2}, 'pending', 'charge', 2, 60, 120),
                   ::item($::Line{doubt}, 'in_doubt', 'charge', 1.5, 60, '90.0'),
                   ::item($::Line{failed}, 'failed', 'charge', 1, 95, 95),
                   ::item($::Line{credit}, 'posted', 'credit', -1, 95, -95);
qr/^\{"items" : \[$i.*"report_id" : ${\ $::R{1}}, .*"external_id" : "9$::Run".*\], "totals" : .*"matched" : 5, "truncated" : false\}$/s



=== TEST 2: its totals per bill code, per client and overall
--- request eval: ::get("?client=$::A")
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
my $t = CORE::join ', ',
    ::total($::A, '"ADH"', 3, 1, 95),
    ::total($::A, qq("$::Code"), 2, '3.5', '210.0'),
    ::total($::A, 'null', 5, '4.5', '305.0'),
    ::total('null', 'null', 5, '4.5', '305.0');
qr/"totals" : \[$t\]/



=== TEST 3: filters: state, site, code, dates; the totals follow them
--- request eval
[::get("?client=$::A&state=failed"), ::get("?site=$::SiteA2"),
 ::get("?code=$::Code&state=in_doubt"),
 ::get("?client=$::A&from=2026-03-02&to=2026-03-03"),
 ::get("?client=$::B")]
--- more_headers eval: [(::as('ops')) x 5]
--- error_code eval: [(200) x 5]
--- response_body_like eval
[qr/^\{"items" : \[\{"id" : $::Line{failed}, [^\]]*"last_error" : "TrackTik refused the ad-hoc item: \\"account\\" is closed"\}\], .*"matched" : 1,/,
 qr/^\{"items" : \[\{"id" : $::Line{site2}, [^\]]*\], .*"matched" : 1,/,
 qr/^\{"items" : \[\{"id" : $::Line{doubt}, [^\]]*\], "totals" : .*"amount" : 90.0, .*"matched" : 1,/,
 qr/^\{"items" : \[\{"id" : $::Line{doubt}, [^\]]*\{"id" : $::Line{failed}, [^\]]*\], .*"matched" : 2,/,
 qr/^\{"items" : \[\{"id" : $::Line{b}, .*"amount" : 80, .*\], "totals" : \[\{"client_id" : $::B, "bill_code" : "ADH", "grand_total" : false, "lines" : 1, "quantity" : 2, "amount" : 80,/]



=== TEST 4: a client's user gets 403, without a session 401
--- request eval: [::get(""), ::get("?client=$::A"), ::get("")]
--- more_headers eval: [::as('alice'), ::as('alice'), ""]
--- error_code eval: [403, 403, 401]
--- response_body eval
['{"error":"billing is for operators only"}',
 '{"error":"billing is for operators only"}',
 '{"error":"not logged in"}']



=== TEST 5: malformed filters get 400 naming the filter
--- request eval
[::get("?from=2026-02-30"), ::get("?to=yesterday"), ::get("?client=abc"),
 ::get("?site=-1"), ::get("?state=lost"), ::get("?code=" . ('x' x 101)),
 ::get("?client=1%27%20OR%201=1")]
--- more_headers eval: [(::as('ops')) x 7]
--- error_code eval: [(400) x 7]
--- response_body_like eval
[qr/from must be a date/, qr/to must be a date/, qr/client must be an id/,
 qr/site must be an id/, qr/state must be pending, posted, failed or in_doubt/,
 qr/code is at most 100 characters/, qr/client must be an id/]



=== TEST 6: a client that has no lines: none, zero totals
--- request eval: ::get("?client=" . ($::Run * 10 + 9))
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
qr/^\{"items" : \[\], "totals" : \[\{"client_id" : null, "bill_code" : null, "grand_total" : true, "lines" : 0, "quantity" : null, "amount" : 0, "unpriced" : 0\}\], "matched" : 0, "truncated" : false\}$/



=== TEST 7: an operator retries a failed line: it is pending again
--- request eval: "POST /portal/api/billing/retry/$::Line{failed}\n"
--- more_headers eval: ::as('ops') . "Origin: http://localhost\n"
--- error_code: 200
--- response_body eval: qq({"requeued" : $::Line{failed}})
--- no_error_log
[error]



=== TEST 8: the retried line is listed as pending, with its last error
--- request eval: ::get("?client=$::A&state=pending")
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
qr/\{"id" : $::Line{failed}, "state" : "pending", .*"last_error" : "TrackTik refused/



=== TEST 9: a line that is not failed: 409; no such line: 404
--- request eval
["POST /portal/api/billing/retry/$::Line{posted}\n",
 "POST /portal/api/billing/retry/$::Line{doubt}\n",
 "POST /portal/api/billing/retry/99999999999\n",
 "POST /portal/api/billing/retry/abc\n"]
--- more_headers eval: [(::as('ops') . "Origin: http://localhost\n") x 4]
--- error_code eval: [409, 409, 404, 404]
--- response_body eval
[qq({"error" : "billing line $::Line{posted} is posted, not failed: nothing to retry"}),
 qq({"error" : "billing line $::Line{doubt} is in_doubt, not failed: nothing to retry"}),
 '{"error":"not found"}', '{"error":"not found"}']



=== TEST 10: retry is a same-origin POST by an operator only
--- init
::tt_sql("UPDATE billing_lines SET state = 'failed' WHERE id = $::Line{failed}");
--- request eval
["POST /portal/api/billing/retry/$::Line{failed}\n",
 "POST /portal/api/billing/retry/$::Line{failed}\n",
 "POST /portal/api/billing/retry/$::Line{failed}\n",
 "GET /portal/api/billing/retry/$::Line{failed}\n"]
--- more_headers eval
[::as('alice') . "Origin: http://localhost\n",
 ::as('ops') . "Origin: http://evil.example\n",
 ::as('ops'),
 ::as('ops')]
--- error_code eval: [403, 403, 403, 405]
--- response_body_like eval
[qr/billing is for operators only/, qr/cross-origin request refused/,
 qr/cross-origin request refused/, qr/./]



=== TEST 11: after all that the line is still failed
--- request eval: ::get("?client=$::A&state=failed")
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
qr/^\{"items" : \[\{"id" : $::Line{failed}, "state" : "failed", .*"matched" : 1,/
