# The shared fixtures (t/data), the Perl signer (t/helper/TrackTikSign.pm)
# against the vectors in t/data/signatures.json, scripts/sign.sh, and the
# nginx.conf generator (t/helper/TrackTikNginxConf.pm) checked by nginx -t.
use strict;
use warnings;

use lib 't/helper';
use Test::More;
use File::Temp ();
use IPC::Run ();

use TrackTikFixture;
use TrackTikNginxConf;
use TrackTikSign;

my $tmp = File::Temp->newdir('tt-fixtures-XXXXXX', TMPDIR => 1);

# --- reports -----------------------------------------------------------------

opendir my $d, TrackTikFixture::dir() . '/reports' or die $!;
my @reports = sort grep { s/\.json\z// } readdir $d;
closedir $d;
ok(@reports >= 2, "t/data/reports has fixtures (@reports)");
for my $name (@reports) {
    my $r = TrackTikFixture::report($name);
    for my $k (qw(id reportDateTime status reportFlag account updatedOn)) {
        ok(exists $r->{$k}, "reports/$name has $k");
    }
}
my $a = TrackTikFixture::report('incident');
$a->{id} = 1;
isnt(TrackTikFixture::report('incident')->{id}, 1,
     'report() gives a fresh copy each call');
ok(!eval { TrackTikFixture::text('reports/none.json'); 1 }
   && $@ =~ m{no fixture t/data/reports/none\.json},
   'a missing fixture is a clear error');
ok(!eval { TrackTikFixture::path('../helper/TrackTikSign.pm'); 1 },
   'fixture names stay inside t/data');
is_deeply(TrackTikFixture::apply({ a => 1, b => 2 }, a => 3, b => undef),
          { a => 3 }, 'apply() sets keys and deletes undef ones');

# --- signatures --------------------------------------------------------------

my $v = TrackTikFixture::json('signatures.json');
for my $t (@{ $v->{deliveries} }) {
    my $body = TrackTikFixture::text($t->{body_file});
    my $got = $t->{scheme} eq 'standard'
        ? TrackTikSign::standard_signature($t->{secret}, $t->{id},
                                           $t->{timestamp}, $body)
        : TrackTikSign::hmac_hex($t->{scheme} eq 'tracktik' ? 'sha512'
                                                           : 'sha256',
                                 $t->{secret}, $body);
    is($got, $t->{signature}, "$t->{scheme} signature of $t->{body_file}");
}
for my $t (@{ $v->{sessions} }) {
    is(TrackTikSign::session_cookie($t->{token}, $t->{key}), $t->{cookie},
       'session cookie');
}
my $n = 0;
for my $t (@{ $v->{secret_files} }) {
    my $file = "$tmp/secret." . $n++;
    open my $fh, '>:raw', $file or die $!;
    print $fh $t->{text};
    close $fh;
    is(TrackTikSign::read_secret($file), $t->{secret},
       "secret file rule: first line of " . length($t->{text}) . " bytes");
}
{
    open my $fh, '>', "$tmp/empty" or die $!;
    print $fh "\nsecond\n";
    close $fh;
    ok(!eval { TrackTikSign::read_secret("$tmp/empty"); 1 }
       && $@ =~ /no secret on its first line/,
       'an empty first line is an error');
}

# scripts/sign.sh signs a file with the first line of a secret file
my ($tracktik) = grep { $_->{scheme} eq 'tracktik' } @{ $v->{deliveries} };
{
    open my $fh, '>', "$tmp/webhook.secret" or die $!;
    print $fh "$tracktik->{secret}\nolder-secret\n";
    close $fh;
    my ($out, $err) = ('', '');
    IPC::Run::run(['scripts/sign.sh', TrackTikFixture::path(
                       $tracktik->{body_file}), "$tmp/webhook.secret"],
                  \undef, \$out, \$err);
    is($out, "$tracktik->{signature}\n", 'scripts/sign.sh prints the vector');
    ($out, $err) = ('', '');
    my $ok = IPC::Run::run(['scripts/sign.sh', "$tmp/missing",
                            "$tmp/webhook.secret"], \undef, \$out, \$err);
    ok(!$ok && $err =~ m{^sign\.sh: .*missing: }, 'sign.sh: missing body');
}

# --- nginx.conf --------------------------------------------------------------

my $conf = TrackTikNginxConf::render(
    prefix => "$tmp/ngx", listen => '127.0.0.1:1', workers => 2,
    error_log_level => 'warn', access_log => 'off', module => '',
    http => 'default_type text/plain;',
    server => 'location = /x { return 202; }');
like($conf, qr/^worker_processes  2;\nmaster_process    on;$/m,
     'workers with a master');
like($conf, qr{^pid \s+ \Q$tmp\E/ngx/logs/nginx\.pid;$}mx,
     'pid under the prefix');
like($conf, qr/server \{\n        listen  127\.0\.0\.1:1;\n\n/,
     'the server block listens');
ok(!eval { TrackTikNginxConf::render(prefix => 'rel') ; 1 }
   && $@ =~ /absolute/, 'a relative prefix is refused');
ok(!eval { TrackTikNginxConf::render(prefix => '/x', workers => 2,
                                     master => 0); 1 },
   'several workers without a master are refused');
ok(!eval { TrackTikNginxConf::render(prefix => '/x', bogus => 1); 1 }
   && $@ =~ /unknown parameter 'bogus'/, 'unknown parameters are refused');
unlike(TrackTikNginxConf::render(prefix => '/x', http => 'server {}'),
       qr/listen/, 'without listen the http text brings its servers');

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
SKIP: {
    skip "no nginx at $nginx", 1 unless -x $nginx;
    mkdir "$tmp/ngx";
    mkdir "$tmp/ngx/logs";
    TrackTikNginxConf::write_file("$tmp/ngx/nginx.conf",
        prefix => "$tmp/ngx", listen => '127.0.0.1:1', workers => 2,
        access_log => 'off', server => 'location = /x { return 202; }');
    my ($out, $err) = ('', '');
    my $ok = IPC::Run::run([$nginx, '-q', '-t', '-p', "$tmp/ngx/",
                            '-e', "$tmp/ngx/logs/error.log",
                            '-c', "$tmp/ngx/nginx.conf"],
                           \undef, \$out, \$err);
    ok($ok, 'nginx -t accepts the generated configuration') or diag($err);
}

# scripts/nginx-conf.pl fills a snippet file's placeholders, or says which
# one it lacks
{
    open my $fh, '>', "$tmp/http.in" or die $!;
    print $fh "# a comment\nserver { listen 127.0.0.1:\@PORT\@; }\n";
    close $fh;
    my ($out, $err) = ('', '');
    IPC::Run::run(['scripts/nginx-conf.pl', '--prefix', "$tmp/ngx",
                   '--http-file', "$tmp/http.in", '--set', 'PORT=9'],
                  \undef, \$out, \$err);
    like($out, qr/server \{ listen 127\.0\.0\.1:9; \}/,
         'nginx-conf.pl --http-file --set');
    unlike($out, qr/a comment/, "the snippet's comments stay behind");
    ($out, $err) = ('', '');
    my $ok = IPC::Run::run(['scripts/nginx-conf.pl', '--prefix', "$tmp/ngx",
                            '--http-file', "$tmp/http.in"],
                           \undef, \$out, \$err);
    ok(!$ok && $err =~ /no --set PORT=/, 'an unfilled placeholder is an error');
}

done_testing();
