# The shared test helpers (t/helper/TrackTikTest.pm) checked against known
# vectors and against the real PostgreSQL and nginx the harness starts.
use strict;
use warnings;

use lib 't/helper';
use Test::More;
use Digest::SHA qw(hmac_sha256);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

use TrackTikTest;

# --- HMAC: RFC 4231 test cases 1 and 2 -------------------------------------

is(tt_hmac_hex('sha512', "\x0b" x 20, 'Hi There'),
   '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde'
   . 'daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
   'HMAC-SHA512 RFC 4231 case 1');
is(tt_hmac_hex('sha512', 'Jefe', 'what do ya want for nothing?'),
   '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554'
   . '9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
   'HMAC-SHA512 RFC 4231 case 2');
is(tt_hmac_hex('sha256', 'Jefe', 'what do ya want for nothing?'),
   '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
   'HMAC-SHA256 RFC 4231 case 2');
is(tt_hmac_hex('hmac_sha512', 'Jefe', 'what do ya want for nothing?'),
   tt_hmac_hex('SHA512', 'Jefe', 'what do ya want for nothing?'),
   'algorithm names are case-insensitive, hmac_ prefix allowed');
ok(!eval { tt_hmac_hex('md5', 'k', 'b'); 1 }, 'unknown algorithm dies');
like($@, qr/unsupported algorithm/, '... with a clear message');

# --- Standard Webhooks: the spec's example ---------------------------------

is(tt_standard_signature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
                         'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
                         '{"test": 2432232314}'),
   'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
   'Standard Webhooks spec example signature');
is(tt_standard_signature('plain-secret', 'msg_1', 1700000000, '{}'),
   'v1,' . encode_base64(hmac_sha256('msg_1.1700000000.{}', 'plain-secret'),
                         ''),
   'a secret without whsec_ is used as raw key bytes');

# --- sample report -----------------------------------------------------------

my $json = tt_sample_report();
my $r = JSON::PP->new->decode($json);
for my $k (qw(id reportTemplate reportDateTime account position reportFlag
              status reportFields updatedOn timeZone)) {
    ok(exists $r->{$k}, "sample report has $k");
}
ok(length($json) > 700 && length($json) < 1400,
   'sample report is about 1 KiB (' . length($json) . ' bytes)');
is($r->{reportFlag}{severityLevel}, 'HIGH', 'reportFlag has a severity');
ok(@{ $r->{reportFields} } >= 3, 'sample report has report fields');
isnt(JSON::PP->new->decode(tt_sample_report())->{id}, $r->{id},
     'each call gives a new report id');
my $o = JSON::PP->new->decode(
    tt_sample_report(id => 42, status => 'APPROVED', timeZone => undef));
is($o->{id}, 42, 'override id');
is($o->{status}, 'APPROVED', 'override status');
ok(!exists $o->{timeZone}, 'undef override removes the key');

# --- helpers are callable from --- xxx eval sections -------------------------

for my $f (qw(tt_sql tt_pg tt_hmac_hex tt_standard_signature
              tt_sample_report tt_post tt_get tt_dsn)) {
    ok(defined &{"Test::Base::Filter::$f"}, "$f aliased into Test::Base::Filter");
}

# --- PostgreSQL --------------------------------------------------------------

is(tt_sql('SELECT 1 + 1'), '2', 'tt_sql returns psql -At output');
is(tt_sql("SELECT x FROM generate_series(1, 3) x"), "1\n2\n3",
   'several rows are newline separated, last newline chomped');
is(tt_sql("SELECT 'a', 'b'"), 'a|b', 'columns are |-separated');
{
    local $/;    # slurp mode in the caller must not change the result
    is(tt_sql('SELECT 0'), '0', 'trailing newline removed under local $/');
}
ok(!eval { tt_sql('SELECT * FROM no_such_table'); 1 }, 'bad SQL dies');
like($@, qr/no_such_table/, '... and says why');
ok(tt_sql("SELECT count(*) FROM tracktik_jobs") =~ /^\d+$/,
   'the migrations are applied (tracktik_jobs exists)');

ok(tt_pg('status'), 'tt_pg status: running');
tt_pg('restart');
is(tt_sql('SELECT 40 + 2'), '42', 'tt_pg restart: same port and data');
ok(!eval { tt_pg('drop-everything'); 1 }, 'tt_pg rejects unknown commands');

# --- the standalone nginx runner ---------------------------------------------

my $module = -f (TrackTikTest::tt_repo() . '/build/ngx_http_tracktik_module.so')
             || $ENV{TEST_NGINX_LOAD_MODULES} ? undef : '';

my $n = TrackTikTest::Nginx->start(
    module  => $module,
    workers => 2,
    master  => 1,
    http    => 'map $uri $tt_gen { default "one"; }',
    server  => 'location = /t { return 202 "$tt_gen $request_method\n"; }',
);
like($n->port, qr/^\d+$/, 'runner picked a port');
is($n->url('/t'), 'http://127.0.0.1:' . $n->port . '/t', 'url()');
my ($st, $h, $body) = tt_post($n->url('/t'), '{"a":1}',
                              { 'Content-Type' => 'application/json' });
is($st, 202, 'tt_post status');
is($body, "one POST\n", 'tt_post body');
is($h->{'content-length'}, length($body), 'tt_post headers (lower-case)');
my @w1 = $n->worker_pids;
is(scalar @w1, 2, 'two workers under the master');
ok($n->pid && kill(0, $n->pid), 'pid() is the running master');

$n->reload(http => 'map $uri $tt_gen { default "two"; }');
($st, undef, $body) = tt_get($n->url('/t'));
is("$st $body", "202 two GET\n", 'reload: the new configuration answers');
my @w2 = $n->worker_pids;
ok(!grep({ my $o = $_; grep { $_ == $o } @w2 } @w1),
   'reload: new worker processes');
like($n->error_log, qr/reconfiguring/, 'error_log() has the reload');

my $master = $n->pid;
$n->stop;
ok(!TrackTikTest::Nginx::_alive($master), 'stop: master gone');
ok(!eval { tt_get($n->url('/t')); 1 }, 'nothing listens after stop');

my $single = TrackTikTest::Nginx->start(
    module => $module,
    server => 'location = /x { return 200 "single\n"; }',
);
is((tt_get($single->url('/x')))[2], "single\n",
   'master off: single process serves');
ok(!eval { $single->reload; 1 }, 'reload needs a master');
$single->stop;

ok(!eval { TrackTikTest::Nginx->start(module => $module,
                                      server => 'bogus_directive;'); 1 },
   'a bad configuration dies');
like($@, qr/unknown directive "bogus_directive"/, '... with nginx\'s error');

done_testing();
