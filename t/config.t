# `nginx -t` rejects bad module configuration with a clear message that
# names the file and line, and accepts a good one.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use Test::More;
use TrackTikTest;

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $module = (split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || ''))[0]
             || tt_repo() . '/build/ngx_http_tracktik_module.so';
# nginx -t never connects: any well-formed conninfo does
my $dsn = 'host=127.0.0.1 port=5432 dbname=tracktik user=tracktik';

# nginx -t on a configuration; returns (exit status, output)
sub nginx_t {
    my (%opt) = @_;
    my $dir = File::Temp->newdir('tt-conf-XXXXXX', TMPDIR => 1);
    my $p = $dir->dirname;
    mkdir "$p/$_" for qw(conf logs);
    for my $name (keys %{ $opt{files} || {} }) {
        open my $fh, '>', "$p/conf/$name" or die $!;
        print $fh $opt{files}{$name};
        close $fh;
    }
    my $http = $opt{http} // '';
    my $location = $opt{location} // '';
    open my $fh, '>', "$p/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
load_module $module;
error_log $p/logs/error.log;
pid $p/logs/nginx.pid;
events { }
http {
    client_body_temp_path $p/body;
$http
    server {
        listen 127.0.0.1:1;
        location = /webhooks/tracktik {
$location
        }
    }
}
CONF
    close $fh;
    my $out = `$nginx -t -p $p/ -c $p/conf/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}

my $pg = qq{tracktik_postgres "$dsn";};
my $webhook = "tracktik_webhook;\ntracktik_webhook_secret_file secret;";
my %secret = (secret => "the-first-secret-line\nthe-second-secret-line\n");

my ($rc, $out) = nginx_t(http => $pg, location => $webhook,
                         files => \%secret);
is $rc, 0, 'a complete configuration passes nginx -t' or diag $out;
like $out, qr/test is successful/, '... and says so';

my @bad = (
    [ 'pool=0 is refused',
      http => qq{tracktik_postgres "$dsn" pool=0;},
      qr/invalid parameter "pool=0".*nginx\.conf:\d+/ ],
    [ 'an unknown tracktik_postgres parameter is refused',
      http => qq{tracktik_postgres "$dsn" pools=3;},
      qr/invalid parameter "pools=3"/ ],
    [ 'a bad query_timeout is refused',
      http => qq{tracktik_postgres "$dsn" query_timeout=soon;},
      qr/invalid parameter "query_timeout=soon"/ ],
    [ 'a statement_timeout that is not a time is refused',
      http => qq{tracktik_postgres "$dsn" statement_timeout=soon;},
      qr/invalid parameter "statement_timeout=soon".*statement_timeout=TIME.*nginx\.conf:\d+/ ],
    [ 'a zero statement_timeout is refused',
      http => qq{tracktik_postgres "$dsn" statement_timeout=0;},
      qr/invalid parameter "statement_timeout=0".*nginx\.conf:\d+/ ],
    [ 'a statement_timeout beyond PostgreSQL\'s limit (24.8 days) is refused',
      http => qq{tracktik_postgres "$dsn" statement_timeout=30d;},
      qr/invalid parameter "statement_timeout=30d".*nginx\.conf:\d+/ ],
    [ 'more INSERTs in flight than connections is refused',
      http => qq{tracktik_postgres "$dsn" pool=1 inflight=2;},
      qr/inflight=2 is more than pool=1/ ],
    [ 'an unparsable conninfo is refused',
      http => q{tracktik_postgres "host=127.0.0.1 dbname";},
      qr/invalid PostgreSQL conninfo/ ],
    [ 'an unknown conninfo keyword is refused',
      http => q{tracktik_postgres "host=127.0.0.1 colour=blue";},
      qr/invalid PostgreSQL conninfo: .*colour/ ],
    [ 'a host that does not resolve is refused at configuration time',
      http => q{tracktik_postgres "host=no-such-host.invalid dbname=x";},
      qr/PostgreSQL host "no-such-host\.invalid" could not be resolved/ ],
    [ 'tracktik_postgres twice is refused',
      http => "$pg\n$pg",
      qr/"tracktik_postgres" directive is duplicate/ ],
    [ 'tracktik_webhook without tracktik_postgres is refused',
      location => $webhook, files => \%secret,
      qr/"tracktik_webhook" in \S+nginx\.conf:\d+ needs "tracktik_postgres"/ ],
    [ 'tracktik_webhook without a secret file is refused',
      http => $pg, location => 'tracktik_webhook;',
      qr/"tracktik_webhook" in \S+nginx\.conf:\d+ has no "tracktik_webhook_secret_file"/ ],
    [ 'a missing secret file is refused',
      http => $pg, location => "tracktik_webhook;\n"
                              . "tracktik_webhook_secret_file nope;",
      qr/open\(\) "\S+nope" failed/ ],
    [ 'a secret file without secrets is refused',
      http => $pg, location => $webhook, files => { secret => "\n  \n" },
      qr/secret file "\S+secret" has no secrets/ ],
    [ 'a whsec_ secret that is not base64 is refused, naming the line',
      http => $pg, location => "$webhook\ntracktik_webhook_auth standard;",
      files => { secret => "whsec_AAAA\nwhsec_not*base64\n" },
      qr/line 2 of secret file "\S*secret" starts with "whsec_"/ ],
    [ 'an unknown auth scheme is refused',
      http => $pg, location => "$webhook\ntracktik_webhook_auth md5;",
      files => \%secret,
      qr/invalid value "md5" in \S+nginx\.conf:\d+/ ],
    [ 'a zero tolerance is refused',
      http => $pg, location => "$webhook\ntracktik_webhook_tolerance 0;",
      files => \%secret,
      qr/"tracktik_webhook_tolerance" must be positive/ ],
    [ 'a zero event stream lifetime is refused',
      http => $pg, location => "$webhook\ntracktik_portal_events_lifetime 0;",
      files => \%secret,
      qr/"tracktik_portal_events_lifetime" must be more than 0 and at most 10m/ ],
    [ 'an event stream lifetime beyond ten minutes is refused',
      http => $pg, location => "$webhook\ntracktik_portal_events_lifetime 11m;",
      files => \%secret,
      qr/"tracktik_portal_events_lifetime" must be more than 0 and at most 10m/ ],
    [ 'an event stream lifetime that is not a time is refused',
      http => "$pg\ntracktik_portal_events_lifetime soon;",
      location => $webhook, files => \%secret,
      qr/"tracktik_portal_events_lifetime" directive invalid value/ ],
    [ 'a password CPU share of 0% is refused',
      http => "$pg\ntracktik_portal_password_cpu 0%;", location => $webhook,
      files => \%secret,
      qr/invalid value "0%" in "tracktik_portal_password_cpu": a share of one core from 1% to 100% in \S+nginx\.conf:\d+/ ],
    [ 'a password CPU share above 100% is refused',
      http => "$pg\ntracktik_portal_password_cpu 150%;", location => $webhook,
      files => \%secret,
      qr/invalid value "150%" in "tracktik_portal_password_cpu"/ ],
    [ 'a password CPU share without % is refused',
      http => "$pg\ntracktik_portal_password_cpu 10;", location => $webhook,
      files => \%secret,
      qr/invalid value "10" in "tracktik_portal_password_cpu"/ ],
    [ 'tracktik_webhook beside another content handler is refused',
      http => $pg, location => "proxy_pass http://127.0.0.1:2;\n$webhook", files => \%secret,
      qr/"tracktik_webhook" directive is duplicate or conflicts/ ],
);

for my $case (@bad) {
    my ($name, @rest) = @$case;
    my $want = pop @rest;
    my ($rc, $out) = nginx_t(@rest);
    isnt $rc, 0, "$name: nginx -t fails";
    like $out, $want, "$name: the message says why";
}

($rc, $out) = nginx_t(http => qq{tracktik_postgres "$dsn" query_timeout=2s }
                              . qq{statement_timeout=2500ms;},
                      location => $webhook, files => \%secret);
is $rc, 0, 'statement_timeout=2500ms passes' or diag $out;

($rc, $out) = nginx_t(http => qq{tracktik_postgres "$dsn options='-c }
                              . qq{work_mem=8MB'" statement_timeout=1s;},
                      location => $webhook, files => \%secret);
is $rc, 0, '... beside options of the conninfo' or diag $out;

($rc, $out) = nginx_t(http => "$pg\ntracktik_portal_password_cpu 25%;",
                      location => $webhook, files => \%secret);
is $rc, 0, 'tracktik_portal_password_cpu 25% passes' or diag $out;

# the secret file's contents never appear in nginx -t output
($rc, $out) = nginx_t(http => $pg, location => "$webhook\n"
                      . "tracktik_webhook_auth standard;",
                      files => { secret => "whsec_YS0yNC1ieXRlLWtleS1mb3ItdGVzdHMh\nsup3r-s3cret-and-long*\n" });
is $rc, 0, 'a secret that is not whsec_ is taken as it is in standard mode'
    or diag $out;
unlike $out, qr/sup3r-s3cret|YS0yNC1ieXRlLWtleS1mb3ItdGVzdHMh/, 'secrets are not echoed';

# a secret that decodes to nothing would let anybody sign
($rc, $out) = nginx_t(http => $pg, location => "$webhook\n"
                      . "tracktik_webhook_auth standard;",
                      files => { secret => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                                           . "whsec_=\n" });
isnt $rc, 0, 'a whsec_ secret that decodes to an empty key is refused';
like $out, qr/line 2 of secret file "\S*secret" is an empty key/,
    '... naming the file and the line';
unlike $out, qr/MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/, '... without the secrets';

($rc, $out) = nginx_t(http => $pg, location => $webhook,
                      files => { secret => "short-secret\n" });
isnt $rc, 0, 'a secret shorter than 16 bytes is refused by nginx -t';
like $out, qr/\[emerg\].*line 1 of secret file "\S*secret" is a key shorter than 16 bytes/,
    '... naming the file and the line';
unlike $out, qr/short-secret/, '... without the secret';

($rc, $out) = nginx_t(http => $pg, location => "$webhook\n"
                      . "tracktik_webhook_auth standard;",
                      files => { secret => "whsec_Zm9vYmFy\n" });
like $out, qr/\[emerg\].*line 1 of secret file "\S*secret" is a key shorter than 16 bytes/,
    'a whsec_ secret is measured by its decoded key';

($rc, $out) = nginx_t(http => $pg, location => $webhook,
                      files => { secret => "a-secret-of-32-characters-000000\n" });
is $rc, 0, 'a 32-byte secret passes nginx -t' or diag $out;
unlike $out, qr/shorter than/, '... without a warning';

# tracktik_portal_auth on says the portal is used: it needs the pool
my %session = (session => ('s' x 40) . "\n");
($rc, $out) = nginx_t(location => "tracktik_portal_auth on;\n"
                      . "tracktik_session_secret_file session;",
                      files => \%session);
isnt $rc, 0, 'tracktik_portal_auth on without tracktik_postgres is refused';
like $out, qr/the tracktik portal needs "tracktik_postgres"/,
    '... and the message says why';

($rc, $out) = nginx_t(http => $pg, location => "tracktik_portal_auth on;\n"
                      . "tracktik_session_secret_file session;",
                      files => \%session);
is $rc, 0, 'tracktik_portal_auth on with tracktik_postgres passes'
    or diag $out;

($rc, $out) = nginx_t(http => $pg, location => "tracktik_portal_auth maybe;");
isnt $rc, 0, 'tracktik_portal_auth takes on or off only';
like $out, qr/invalid value "maybe" in "tracktik_portal_auth" directive, it must be "on" or "off"/,
    '... as any nginx flag says';

# tracktik_portal_postgres: the portal pool's own conninfo
my $portal_pg = qq{tracktik_portal_postgres "$dsn" pool=2 queue=10 }
              . "connect_timeout=2s query_timeout=3s statement_timeout=4s;";
($rc, $out) = nginx_t(http => "$pg\n$portal_pg", location => $webhook,
                      files => \%secret);
is $rc, 0, 'tracktik_portal_postgres with every parameter passes'
    or diag $out;

($rc, $out) = nginx_t(http => $portal_pg,
                      location => "tracktik_portal_auth on;\n"
                      . "tracktik_session_secret_file session;",
                      files => \%session);
is $rc, 0, 'a portal with tracktik_portal_postgres alone passes' or diag $out;

for my $case (
    [ 'a webhook parameter',
      qq{tracktik_portal_postgres "$dsn" batch=5;},
      qr/invalid parameter "batch=5" \(expected pool=N, queue=N, connect_timeout=TIME, query_timeout=TIME or statement_timeout=TIME\) in \S+nginx\.conf:\d+/ ],
    [ 'a pool of 0', qq{tracktik_portal_postgres "$dsn" pool=0;},
      qr/invalid parameter "pool=0"/ ],
    [ 'twice', qq{tracktik_portal_postgres "$dsn";\n}
               . qq{tracktik_portal_postgres "$dsn";},
      qr/"tracktik_portal_postgres" directive is duplicate in \S+nginx\.conf:\d+/ ],
    [ 'a conninfo libpq cannot parse',
      q{tracktik_portal_postgres "host=127.0.0.1 dbname";},
      qr/invalid PostgreSQL conninfo: .* in \S+nginx\.conf:\d+/ ],
    [ 'an unknown conninfo keyword',
      q{tracktik_portal_postgres "hostx=127.0.0.1";},
      qr/invalid PostgreSQL conninfo: invalid connection option "hostx"/ ],
) {
    my ($name, $line, $want) = @$case;
    ($rc, $out) = nginx_t(http => "$pg\n$line", location => $webhook,
                          files => \%secret);
    isnt $rc, 0, "tracktik_portal_postgres with $name is refused";
    like $out, $want, '... with a message naming it' or diag $out;
}

done_testing();
