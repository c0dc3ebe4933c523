# vi:filetype=perl
#
# The portal's audit view (GET /portal/api/audit and /portal/api/audit.csv,
# sql/functions/portal_audit.sql): operators see the latest scheduled
# audit's counts and download its CSV; a client's user gets 403, no
# session 401.
#
# Fixtures: two audit runs as the schedule records them (the later one is
# the latest), with a CSV this run alone writes.

use lib 't/helper';
use Test::Nginx::Socket 'no_plan';
use TrackTikTest;

no_shuffle();

our $Run = time() % 100000000 * 100 + $$ % 100;
our $Secret = 'portal-session-secret-' . ('x' x 32) . $$;
our $Password = 'correct horse battery';

sub audit_run {
    my ($agrees, $csv, $since) = @_;
    return tt_sql("INSERT INTO tracktik_audit_runs (pull_id, source,"
        . " period_from, period_to, ledger_reports, source_reports, pending,"
        . " missing_from_ledger, missing_from_source, changed,"
        . " billing_without_report, should_have_billed, agrees, csv,"
        . " updated_since)"
        . " VALUES (NULL, 'api', '2026-03-01T00:00:00Z',"
        . " '2026-03-31T23:59:59Z', 60, 61, 2, 1, 0, 2, 0, 1, $agrees,"
        . " '$csv', " . ($since ? "'$since'" : 'NULL') . ") RETURNING id");
}

our $Csv = "kind,report_id,field,ledger_value,source_value\r\n"
         . "missing_from_ledger,$Run,,,2026-03-10T00:00:00Z\r\n"
         . "changed,$Run,severity,\"<b>HIGH\"\"</b>\",LOW\r\n";
audit_run('true', 'kind,report_id,field,ledger_value,source_value\r\n');
our $Latest = audit_run('false', $Csv =~ s/'/''/gr, '2026-03-31T10:00:00Z');

tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

our %U = (ops => "ops.$Run\@guards.test", alice => "alice.$Run\@client-a.test");
tt_sql("SELECT portal_user_add('$U{ops}', '$Password', 'operator', NULL, NULL)");
tt_sql("SELECT portal_user_add('$U{alice}', '$Password', 'client', $Run, NULL)");

our %C = map {
    $_ => tt_session_cookie(tt_sql("SELECT next FROM ("
              . tt_login_sql($U{$_}, $Password, '127.0.0.9', 3600) . ") l"),
          $Secret)
} keys %U;

sub as { "Cookie: $C{$_[0]}\n" }

my $portal_blocks = tt_portal_api_blocks($Secret);
add_block_preprocessor(sub { $portal_blocks->(@_) });

run_tests();

__DATA__

=== TEST 1: an operator sees the latest audit's summary
--- request
GET /portal/api/audit
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
qr/^\{"audit" : \{"id" : $::Latest, "pull_id" : null, "source" : "api", "from" : "2026-03-01T00:00:00Z", "to" : "2026-03-31T23:59:59Z", "created_at" : "[-0-9T:]+Z", "agrees" : false, "ledger_reports" : 60, "source_reports" : 61, "pending" : 2, "updated_since" : "2026-03-31T10:00:00Z", "counts" : \{"missing_from_ledger" : 1, "missing_from_source" : 0, "changed" : 2, "billing_without_report" : 0, "should_have_billed" : 1\}, "csv_bytes" : \d+\}\}$/



=== TEST 2: and downloads its CSV, as audit.csv
--- request
GET /portal/api/audit.csv
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_headers
Content-Type: text/csv; charset=utf-8
Content-Disposition: attachment; filename="audit.csv"
--- response_body eval: $::Csv



=== TEST 3: a client's user gets 403, without a session 401
--- request eval
["GET /portal/api/audit", "GET /portal/api/audit.csv",
 "GET /portal/api/audit", "GET /portal/api/audit.csv"]
--- more_headers eval: [::as('alice'), ::as('alice'), "", ""]
--- error_code eval: [403, 403, 401, 401]
--- response_body eval
['{"error":"billing is for operators only"}',
 '{"error":"billing is for operators only"}',
 '{"error":"not logged in"}', '{"error":"not logged in"}']
