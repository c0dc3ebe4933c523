package TTBrowser;
# What the browser suites share (t/browser/*.t): the check that Chromium,
# node and playwright-core are there, the portal's nginx locations as
# conf/nginx.run.conf.in has them, and running a *.spec.mjs whose
# "TT-RESULT {json}" lines become TAP tests.

use strict;
use warnings;

use IPC::Run ();
use JSON::PP ();
use Test::More;

use TrackTikTest;

my $json = JSON::PP->new->canonical(1);

# the browser and node: skips the suite when scripts/deps.sh has not
# installed them; a missing node_modules/playwright-core is a failure
sub require_browser {
    my $chromium = $ENV{TT_CHROMIUM} || '/usr/bin/chromium';
    my $node = `sh -c 'command -v node' 2>/dev/null`;
    chomp $node;

    plan skip_all => "$chromium is not installed (scripts/deps.sh "
                     . 'installs it)' unless -x $chromium;
    plan skip_all => 'node is not installed (scripts/deps.sh installs it)'
        unless $node ne '';

    if (!-f tt_repo() . '/node_modules/playwright-core/package.json') {
        fail('playwright-core is installed (run `npm ci` in the '
             . 'repository)');
        done_testing();
        exit;
    }
    return ($node, $chromium);
}

# the server block: the API, the static pages behind the session check
# (public: exact pages without it), the attachment store's internal
# location; before: locations of a test's own, first
sub portal_server {
    my (%o) = @_;
    my $repo = tt_repo();
    my $csp = "default-src 'none'; script-src 'self'; style-src 'self'; "
            . "img-src 'self'; connect-src 'self'; form-action 'self'; "
            . "base-uri 'none'; frame-ancestors 'none'";
    my $public = join '', map { <<"LOC" } @{ $o{public} || [] };
            location = $_ {
                tracktik_portal_auth off;
            }

LOC
    my $store_types = $o{store_types} ? <<'TYPES' : '';
            types {
                image/png               png;
                image/jpeg              jpg jpeg;
                image/gif               gif;
                image/webp              webp;
            }
TYPES
    return <<"CONF";
        tracktik_session_secret_file $o{secret};

        location /portal/api/ {
            tracktik_portal_api;
        }
@{[ $o{before} // '' ]}
        location /portal/ {
            root $repo;
            types {
                text/html               html;
                text/css                css;
                text/javascript         js;
                image/svg+xml           svg;
            }
            tracktik_portal_auth on;
            add_header Content-Security-Policy "$csp" always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy same-origin always;
            add_header Cache-Control no-cache always;

            location = /portal/login.html {
                tracktik_portal_auth off;
            }

$public            location /portal/assets/ {
                tracktik_portal_auth off;
            }
        }

        location /_tracktik_attachments/ {
            internal;
            alias $o{store}/;
$store_types        }
CONF
}

# runs node SPEC against nginx with the fixture; one TAP test per
# TT-RESULT line, then that the script reached TT-END and exited cleanly
sub run_spec {
    my (%o) = @_;
    my ($out, $err) = ('', '');
    local $ENV{PORTAL_URL} = 'http://127.0.0.1:' . $o{nginx}->port;
    local $ENV{TT_FIXTURE} = $json->encode($o{fixture});
    local $ENV{TT_OUTPUT_DIR} = $o{output};
    local $ENV{TT_CHROMIUM} = $o{chromium};
    local $ENV{TZ} = 'UTC';
    # a guard against a hung browser only; no check depends on it
    my $ok = eval {
        IPC::Run::run([ $o{node}, $o{spec} ], \undef, \$out, \$err,
                      IPC::Run::timeout(600));
    };
    my $why = $@;

    my ($n, $ended) = (0, 0);
    for my $line (split /\n/, $out) {
        if ($line =~ /^TT-RESULT (\{.*\})\s*$/) {
            my $r = $json->decode($1);
            $n++;
            ok($r->{ok}, $r->{name}) or diag($r->{diag} // '');
        } elsif ($line eq 'TT-END') {
            $ended = 1;
        } elsif ($line ne '') {
            note($line);
        }
    }

    ok($ended, "the browser script went through every step ($n checks)");
    ok(!$why && $ok, 'node exited cleanly')
        or diag("node: " . ($why || "exit status $?") . "\n$err");
    if (!$ended || !$ok) {
        diag("nginx error log:\n" . $o{nginx}->error_log);
    }
}

1;
