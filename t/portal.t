# vi:filetype=perl
#
# The client portal's API: login and sessions, every route, and the tenant
# isolation matrix (another client's ids, unapproved reports, confidential
# fields, site-restricted users), tampered/expired/revoked sessions, CSRF,
# SQL metacharacters in every filter, and login throttling.
#
# Fixtures are made below, before the blocks: two clients of this run
# (ids unique to the run), their sites, incidents and photos, and users
# with sessions opened through portal_login_open() itself.

use lib 't/helper';
use Test::Nginx::Socket 'no_plan';
use TrackTikTest;

no_shuffle();

our $Run = time() % 100000000 * 100 + $$ % 100;
our $A = $Run * 10 + 1;           # client A
our $B = $Run * 10 + 2;           # client B
our ($SiteA1, $SiteA2, $SiteB) = ($A * 10 + 1, $A * 10 + 2, $B * 10 + 1);
our $SiteA3 = $A * 10 + 3;        # only a report not approved yet
our $Secret = 'portal-session-secret-' . ('x' x 32) . $$;
our $Password = 'correct horse battery';

$ENV{TEST_NGINX_ATTACHMENTS} = html_dir() . '/store';

# incidents: report ids derived from the run
our %R = (
    a1       => $A * 100 + 1,     # client A, site A1, approved
    a2       => $A * 100 + 2,     # client A, site A2, approved
    a_new    => $A * 100 + 3,     # client A, not approved yet
    b1       => $B * 100 + 1,     # client B, approved
    a_upd    => $A * 100 + 4,     # approved, then a version 2
    a_hidden => $A * 100 + 5,     # client A, site A3, not approved yet
);

sub ledger {
    my ($report, $version, $client, $site, $status, $hours_ago, %extra) = @_;
    my $r = TrackTikFixture::json('ledger/confidential-fields.json');
    my ($plain, $confidential, $admin) = @{ $r->{reportFields} };
    $plain->{value} = "walked the fence $report v$version";
    $confidential->{value} = "confidential $report";
    $admin->{value} = "adminonly $report";
    my $raw = TrackTikFixture::encode({ %$r, id => $report,
        account => { id => $site, name => "Site $site, " }, %extra });
    $raw =~ s/'/''/g;
    tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
           . "occurred_at, client_id, site_id, severity, category, "
           . "report_template, status, time_zone, raw, raw_sha256) VALUES "
           . "('t:$report:$version', $report, $version, "
           . "now() - interval '$hours_ago hours', $client, $site, 'HIGH', "
           . "'After hours dispatch', 'Incident Report', '$status', "
           . "'America/Toronto', '$raw', 'x')");
}

ledger($R{a1}, 1, $A, $SiteA1, 'APPROVED', 1);
ledger($R{a2}, 1, $A, $SiteA2, 'APPROVED', 2);
ledger($R{a_new}, 1, $A, $SiteA1, 'NEW', 3);
ledger($R{b1}, 1, $B, $SiteB, 'APPROVED', 4);
ledger($R{a_upd}, 1, $A, $SiteA1, 'APPROVED', 5);
ledger($R{a_upd}, 2, $A, $SiteA1, 'APPROVED', 5, edited => JSON::PP::true);
ledger($R{a_hidden}, 1, $A, $SiteA3, 'NEW', 6);

# a client with more incidents than one CSV page (1,000 rows) holds
our $Many = $Run * 10 + 3;
tt_sql("INSERT INTO incidents_ledger (event_id, report_id, version, "
       . "occurred_at, client_id, site_id, severity, category, "
       . "report_template, status, time_zone, raw, raw_sha256) "
       . "SELECT 't:' || ($Many * 10000 + g) || ':1', $Many * 10000 + g, 1, "
       . "timestamptz '2026-01-01' + g * interval '1 minute', $Many, "
       . "$Many * 10 + 1, 'LOW', 'Patrol', 'Patrol Report', 'APPROVED', "
       . "'UTC', '{}', 'x' FROM generate_series(1, 2500) g");

our ($PhotoA, $PhotoB) = ($A * 100 + 50, $B * 100 + 50);
tt_sql("INSERT INTO portal_attachments VALUES "
       . "($PhotoA, $R{a1}, 'a.png', 'image/png', 'run$Run/a.png'), "
       . "($PhotoB, $R{b1}, 'b.png', 'image/png', 'run$Run/b.png')");

# failed logins from this address in an earlier run would throttle it
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

sub user {
    my ($email, $role, $client, $sites) = @_;
    tt_sql("SELECT portal_user_add('$email', '$Password', '$role', "
           . ($client // 'NULL') . ", " . ($sites // 'NULL') . ")");
}

our %U = (
    alice => "alice.$Run\@client-a.test",
    ann   => "ann.$Run\@client-a.test",
    bob   => "bob.$Run\@client-b.test",
    ops   => "ops.$Run\@guards.test",
    eve   => "eve.$Run\@client-a.test",
    gone  => "gone.$Run\@client-a.test",
    late  => "late.$Run\@client-a.test",
    many  => "many.$Run\@client-c.test",
);

user($U{alice}, 'client', $A);
user($U{ann}, 'client', $A, "ARRAY[$SiteA2]::bigint[]");
user($U{bob}, 'client', $B);
user($U{ops}, 'operator');
user($U{eve}, 'client', $A);
user($U{gone}, 'client', $A);
user($U{late}, 'client', $A);
user($U{many}, 'client', $Many);

sub login_token {
    my ($email) = @_;
    return tt_sql("SELECT next FROM ("
                  . tt_login_sql($email, $Password, '127.0.0.9', 3600)
                  . ") l");
}

sub cookie_for {
    my ($token) = @_;
    return tt_session_cookie($token, $Secret);
}

our %C = map { $_ => cookie_for(login_token($U{$_})) } keys %U;

# a revoked user and an expired session
tt_sql("SELECT portal_user_disable('$U{gone}')");
tt_sql("UPDATE portal_sessions SET expires_at = now() - interval '1 second' "
       . "WHERE user_id = (SELECT id FROM portal_users "
       . "WHERE email = '$U{late}')");

our $Tampered = $C{alice};
$Tampered =~ s/(.)$/$1 eq 'A' ? 'B' : 'A'/e;

# a cookie signed with the right key for a token that has no session
our $Unknown = cookie_for('ab' x 32);

sub get { "GET /portal/api/$_[0]" }
sub as { "Cookie: $C{$_[0]}\n" }
# Test::Nginx sends "Host: localhost"
sub origin { "Origin: http://localhost\nContent-Type: application/json\n" }
sub creds { qq({"email":"$_[0]","password":"$_[1]"}) }

# Test::Nginx checks response_body_unlike only when a block has no
# response_body_like: a block that needs both puts what must be absent
# into the like pattern, as a look-ahead from the start of the body
sub without { my $neg = shift; qr/\A(?!.*(?:$neg))/s }

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    tracktik_postgres "$TEST_NGINX_TRACKTIK_DSN" pool=1 portal_pool=2;
    log_format portal '$tracktik_user|$tracktik_client|$status|$uri';
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    tracktik_session_secret_file ../html/session.secret;
    access_log logs/portal.log portal;

    location /portal/api/ {
        tracktik_portal_api;
    }

    location = /portal/login.html {
        return 200 "login page\n";
    }

    location /portal/ {
        tracktik_portal_auth on;
        root html;
        add_header X-Portal-User "$tracktik_user of client $tracktik_client";
    }

    location /_tracktik_attachments/ {
        internal;
        alias $TEST_NGINX_ATTACHMENTS/;
    }

    location = /portal.log {
        alias logs/portal.log;
    }
_EOC_
    }

    if (!defined $block->user_files) {
        $block->set_value('user_files', <<"_EOF_");
>>> session.secret
$Secret
>>> portal/index.html
the portal page
>>> store/run$Run/a.png
photo of client A
>>> store/run$Run/b.png
photo of client B
_EOF_
    }
});

run_tests();

__DATA__

=== TEST 1: a CSV export longer than one page streams every row once, newest first
--- request eval: ::get('incidents.csv')
--- more_headers eval: ::as('many')
--- error_code: 200
--- response_body_like eval
my $n = $::Many * 10000;
qr/^id,[^\r]*\r\n${\($n + 2500)},1,2026-01-02T17:40:00Z,(?:[^\r]*\r\n){1000}${\($n + 1500)},(?:[^\r]*\r\n){1000}${\($n + 500)},(?:[^\r]*\r\n){499}${\($n + 1)},1,2026-01-01T00:01:00Z,[^\r]*\r\n\z/s



=== TEST 2: login sets an HttpOnly, SameSite=Strict session cookie
--- request eval
"POST /portal/api/login\n" . ::creds($::U{alice}, $::Password)
--- more_headers eval: ::origin()
--- error_code: 200
--- response_headers_like
Set-Cookie: ^tt_session=[0-9a-f]{64}\.[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200$
Cache-Control: no-store
--- response_body_like eval
qr/"email" : "\Q$::U{alice}\E", "role" : "client", "client" : \{"id" : $::A\}/
--- no_error_log
[error]



=== TEST 3: a wrong password and an unknown user get the same 401
--- request eval
["POST /portal/api/login\n" . ::creds($::U{bob}, 'wrong password!'),
 "POST /portal/api/login\n" . ::creds("nobody.$::Run\@x.test", 'wrong password!')]
--- more_headers eval: [::origin(), ::origin()]
--- error_code eval: [401, 401]
--- response_body eval
['{"error":"invalid email or password"}', '{"error":"invalid email or password"}']
--- response_headers eval
["!Set-Cookie\n", "!Set-Cookie\n"]



=== TEST 4: a login POST without Origin, or from another origin, is refused (CSRF)
--- request eval
["POST /portal/api/login\n" . ::creds($::U{alice}, $::Password),
 "POST /portal/api/login\n" . ::creds($::U{alice}, $::Password)]
--- more_headers eval
["Content-Type: application/json\n",
 "Content-Type: application/json\nOrigin: http://evil.example\n"]
--- error_code eval: [403, 403]
--- response_body eval
['{"error":"cross-origin request refused"}', '{"error":"cross-origin request refused"}']



=== TEST 5: a login body that is not the expected JSON is refused with 400
--- request eval
["POST /portal/api/login\n{\"email\": 1}", "POST /portal/api/login\nnot json",
 "POST /portal/api/login\n{\"email\":\"a\@b\"}"]
--- more_headers eval: [::origin(), ::origin(), ::origin()]
--- error_code eval: [400, 400, 400]



=== TEST 6: no cookie, a tampered cookie or a cookie without a session: 401
--- request eval: [::get('me'), ::get('me'), ::get('me')]
--- more_headers eval
["", "Cookie: $::Tampered\n", "Cookie: $::Unknown\n"]
--- error_code eval: [401, 401, 401]
--- response_body_like eval: [qr/not logged in/, qr/not logged in/, qr/not logged in/]



=== TEST 7: a tampered cookie is refused before any database query, and logged
--- request eval: ::get('me')
--- more_headers eval: "Cookie: $::Tampered\n"
--- error_code: 401
--- error_log
tracktik portal: invalid session cookie



=== TEST 8: /me with a valid session
--- request eval: ::get('me')
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_body_like eval: qr/"email" : "\Q$::U{alice}\E"/



=== TEST 9: expired and revoked (disabled user) sessions are refused, and the cookie cleared
--- request eval: [::get('me'), ::get('incidents')]
--- more_headers eval: [::as('late'), ::as('gone')]
--- error_code eval: [401, 401]
--- response_headers_like eval
["Set-Cookie: ^tt_session=; .*Max-Age=0", "Set-Cookie: ^tt_session=; .*Max-Age=0"]



=== TEST 10: a client sees its own approved incidents, newest first, and nobody else's
--- request eval: ::get('incidents')
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_body_like eval
qr/${\ ::without(qq($::R{b1}|$::R{a_new}|"client_id" : $::B))}.*"id" : $::R{a1},.*"id" : $::R{a2},.*"id" : $::R{a_upd}, "version" : 2/s



=== TEST 11: the other client sees only its own
--- request eval: ::get('incidents')
--- more_headers eval: ::as('bob')
--- error_code: 200
--- response_body_like eval
qr/${\ ::without(qq($::R{a1}|$::R{a2}|$::R{a_upd}|"client_id" : $::A))}.*"id" : $::R{b1},/s



=== TEST 12: isolation: another client's incident, an unapproved one, and a made-up id are all 404
--- request eval
[::get("incidents/$::R{b1}"), ::get("incidents/$::R{a_new}"), ::get("incidents/999999999999"), ::get("incidents/1%20OR%201=1")]
--- more_headers eval: [::as('alice'), ::as('alice'), ::as('alice'), ::as('alice')]
--- error_code eval: [404, 404, 404, 404]



=== TEST 13: isolation: a site filter naming another client's site returns nothing
--- request eval
[::get("incidents?site=$::SiteB"), ::get("incidents.csv?site=$::SiteB")]
--- more_headers eval: [::as('alice'), ::as('alice')]
--- error_code eval: [200, 200]
--- response_body eval
['{"items" : [], "next" : null}',
 "id,version,occurred_at,site_id,site,category,severity,template,billing\r\n"]



=== TEST 14: isolation: another client's photo is 404, the own one is served by nginx
--- request eval
[::get("attachments/$::PhotoB"), ::get("attachments/$::PhotoA")]
--- more_headers eval: [::as('alice'), ::as('alice')]
--- error_code eval: [404, 200]
--- response_body_like eval: [qr/no such attachment/, qr/^photo of client A$/]



=== TEST 15: the storage path of a photo never reaches the client
--- request eval: ::get("attachments/$::PhotoA")
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_headers_like
Cache-Control: private
--- response_headers
!Location
!X-Accel-Redirect



=== TEST 16: isolation: /sites and /stats only count the client's own sites
--- request eval: [::get('sites'), ::get('stats')]
--- more_headers eval: [::as('alice'), ::as('alice')]
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/${\ ::without($::SiteB)}.*"id" : $::SiteA1, .*"id" : $::SiteA2, /s,
 qr/${\ ::without($::SiteB)}.*"per_site" : \[.*"id" : $::SiteA1/s]



=== TEST 17: a user restricted to one site sees only that site
--- request eval: [::get('incidents'), ::get("incidents/$::R{a1}")]
--- more_headers eval: [::as('ann'), ::as('ann')]
--- error_code eval: [200, 404]
--- response_body_like eval
[qr/${\ ::without("$::R{a1}|$::R{a_upd}")}.*"id" : $::R{a2},/s, qr/no such incident/]



=== TEST 18: the detail has fields, versions, billing and photos, but no confidential or admin-only fields
--- request eval: [::get("incidents/$::R{a1}"), ::get("incidents/$::R{a_upd}")]
--- more_headers eval: [::as('alice'), ::as('alice')]
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/${\ ::without('confidential|adminonly|storage|run\d+\/')}.*"fields": \[\{"type": null, "label": "Narrative", "value": "walked the fence $::R{a1} v1"\}\].*"attachments": \[\{"id": $::PhotoA, "url": "\/portal\/api\/attachments\/$::PhotoA"/s,
 qr/${\ ::without('confidential|adminonly')}.*"versions": \[\{"version": 1, .*\{"version": 2, /s]



=== TEST 19: the operator sees every client
--- request eval: [::get("incidents/$::R{b1}"), ::get("incidents/$::R{a1}")]
--- more_headers eval: [::as('ops'), ::as('ops')]
--- error_code eval: [200, 200]



=== TEST 20: SQL metacharacters in every filter change nothing and leak nothing
--- request eval
[::get("incidents?site=1%27%20OR%20%271%27=%271"),
 ::get("incidents?severity=HIGH%27%20OR%201=1--"),
 ::get("incidents?category=%27%3B%20DROP%20TABLE%20incidents_ledger%3B--"),
 ::get("incidents?q=%25%27%20OR%20client_id%20IS%20NOT%20NULL--"),
 ::get("incidents?from=2020-01-01%27%3B--"),
 ::get("incidents?cursor=1%27%20OR%201=1"),
 ::get("incidents?limit=5;SELECT%201"),
 ::get("stats?to=now()%27--"),
 ::get("incidents.csv?q=%22%2C%0D%0A%27"),
 ::get("incidents?q=%00")]
--- more_headers eval: [(::as('alice')) x 10]
--- error_code eval: [400, 200, 200, 200, 400, 400, 400, 400, 200, 400]
--- response_body_like eval
[qr/invalid filter/, qr/^\{"items" : \[\], "next" : null\}$/,
 qr/^\{"items" : \[\], "next" : null\}$/, qr/^\{"items" : \[\], "next" : null\}$/,
 qr/invalid filter/, qr/invalid filter/, qr/invalid filter/, qr/invalid filter/,
 qr/^id,version,occurred_at,site_id,site,category,severity,template,billing\r\n$/,
 qr/contains NUL/]
--- no_error_log
[alert]



=== TEST 21: free-text search and keyset paging
--- request eval
[::get("incidents?q=fence%20$::R{a2}"), ::get("incidents?limit=1"), ::get("incidents?limit=0")]
--- more_headers eval: [::as('alice'), ::as('alice'), ::as('alice')]
--- error_code eval: [200, 200, 400]
--- response_body_like eval
[qr/^\{"items" : \[\{"id" : $::R{a2}, (?!.*"id" : $::R{a1},).*"next" : null\}$/,
 qr/^\{"items" : \[\{"id" : $::R{a1}, .*"next" : "\d+\.$::R{a1}"\}$/, qr/bad limit/]



=== TEST 22: the CSV export is RFC 4180 with a header row
--- request eval: ::get("incidents.csv?site=$::SiteA2")
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_headers
Content-Type: text/csv; charset=utf-8
Content-Disposition: attachment; filename="incidents.csv"
--- response_body eval
"id,version,occurred_at,site_id,site,category,severity,template,billing\r\n"
. "$::R{a2},1," . ::tt_sql("SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM incidents_ledger WHERE report_id = $::R{a2}")
. ",$::SiteA2,\"Site $::SiteA2, \",After hours dispatch,HIGH,Incident Report,\r\n"



=== TEST 23: a portal page without a session redirects to the login page; an API-like request gets 401
--- request eval: ["GET /portal/incidents?x=1", "GET /portal/"]
--- more_headers eval: ["", "Accept: application/json\n"]
--- error_code eval: [302, 401]
--- response_headers_like eval
["Location: ^(http://[^/]+)?/portal/login\\.html\\?next=/portal/incidents%3Fx=1\$", ""]



=== TEST 24: a portal page with a session passes, and $tracktik_user / $tracktik_client are set
--- request
GET /portal/
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_headers eval: "X-Portal-User: $::U{alice} of client $::A\n"
--- response_body
the portal page



=== TEST 25: logout revokes the session in the database, not only the cookie
--- request eval: ["POST /portal/api/logout", ::get('me')]
--- more_headers eval: [::origin() . ::as('eve'), ::as('eve')]
--- error_code eval: [200, 401]
--- response_headers_like eval
["Set-Cookie: ^tt_session=; .*Max-Age=0", "Set-Cookie: ^tt_session=;.*Max-Age=0"]



=== TEST 26: five failed logins lock the account, even for the right password (429)
--- request eval
[map({ "POST /portal/api/login\n" . ::creds($::U{bob}, "nope nope $_") } 1 .. 4),
 "POST /portal/api/login\n" . ::creds($::U{bob}, $::Password)]
--- more_headers eval: [(::origin()) x 5]
--- error_code eval: [401, 401, 401, 401, 429]
--- response_headers_like eval: ["", "", "", "", "Retry-After: 900"]



=== TEST 27: a throttled login is logged as a warning
--- request eval: "POST /portal/api/login\n" . ::creds($::U{bob}, $::Password)
--- more_headers eval: ::origin()
--- error_code: 429
--- error_log
tracktik portal: login throttled



=== TEST 28: unknown routes are 404, wrong methods 405
--- request eval: [::get('nope'), "POST /portal/api/incidents", "GET /portal/api/login"]
--- more_headers eval: [::as('alice'), ::origin() . ::as('alice'), ::as('alice')]
--- error_code eval: [404, 405, 405]
--- response_headers_like eval: ["", "Allow: GET, HEAD", "Allow: POST"]



=== TEST 29: the access log names the user and the client
--- request eval: [::get('me'), "GET /portal.log"]
--- more_headers eval: [::as('alice'), ""]
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/alice/, qr/^\Q$::U{alice}\E\|$::A\|200\|\/portal\/api\/me$/m]



=== TEST 30: thirty failed logins from one address lock it for every account, even with the right password (429)
--- init
TrackTikTest::tt_sql("INSERT INTO portal_login_failures (email, ip) "
    . "SELECT 'guess' || g || '.$::Run\@x.test', '127.0.0.1' "
    . "FROM generate_series(1, 30) g");
--- request eval: "POST /portal/api/login\n" . ::creds($::U{alice}, $::Password)
--- more_headers eval: ::origin()
--- error_code: 429
--- response_headers
Retry-After: 900
--- response_body_like: too many failed logins



=== TEST 31: /sites lists no site known only from reports not yet approved
--- request eval: ::get('sites')
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_body_like eval
qr/${\ ::without($::SiteA3)}.*"id" : $::SiteA1, .*"id" : $::SiteA2, /s



=== TEST 32: a user restricted to some sites lists only those
--- request eval: ::get('sites')
--- more_headers eval: ::as('ann')
--- error_code: 200
--- response_body eval
qq({"items" : [{"id" : $::SiteA2, "name" : "Site $::SiteA2, ", "client_id" : $::A}]})



=== TEST 33: an operator lists the sites of every client, none only unapproved
--- request eval: ::get('sites')
--- more_headers eval: ::as('ops')
--- error_code: 200
--- response_body_like eval
qr/${\ ::without($::SiteA3)}(?=.*\{"id" : $::SiteA1, "name" : "Site $::SiteA1, ", "client_id" : $::A\})(?=.*\{"id" : $::SiteA2, )(?=.*\{"id" : $::SiteB, "name" : "Site $::SiteB, ", "client_id" : $::B\})/s



=== TEST 34: a user restricted to some sites: /stats counts only those
--- request eval: ::get('stats')
--- more_headers eval: ::as('ann')
--- error_code: 200
--- response_body_like eval
qr/${\ ::without("$::SiteA1|$::SiteB")}.*"per_site" : \[\{"site" : \{"id" : $::SiteA2, "name" : "Site $::SiteA2, "\}, "count" : 1\}\]/s



=== TEST 35: a photo is served with nosniff: a browser never reads it as a page
--- request eval: ::get("attachments/$::PhotoA")
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_headers
X-Content-Type-Options: nosniff



=== TEST 36: list items carry no global ledger id (other clients' volume)
--- request eval: ::get('incidents')
--- more_headers eval: ::as('alice')
--- error_code: 200
--- response_body_like eval: qr/^(?!.*ledger_id).*"items" : \[\{"id"/s
