#!/usr/bin/perl
# Notifications in the portal (issue 12; sql/functions/portal_notify.sql):
#   * the isolation matrix: two clients' users and an operator.  Each
#     client user lists, creates, changes and deletes only their own
#     subscriptions (another's id is a 404, as a missing one), cannot
#     subscribe to another client's site, cannot see the rules or the
#     delivery log; the operator sees every rule and the log
#   * end to end: reports recorded by tracktik-worker, mails sent by
#     `notify run --drain` to a local SMTP server: a client user's
#     subscription tells them of their own site's incident and never of
#     the other client's, even when its stored match is tampered with
#   * the one-click unsubscribe link of a real mail, with no login (GET
#     changes nothing, POST pauses); forged and malformed tokens change
#     nothing; the owner resumes it in the portal
#   * operators switch a rule off and on, read the delivery log, replay a
#     dead notification
#   * a subscription's daily digest comes at its local time, in the
#     subscriber's zone
#
# The database is this suite's own (TTWorker); an nginx of its own serves
# the portal API and pages from it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helper", "$FindBin::Bin/worker/lib";
use JSON::PP ();
use Test::More;

use TrackTikTest;
use TTWorker;
use TTNotify;

my $t = TTWorker->new('portal_notify');
my $n = TTNotify->new($t);
my $json = JSON::PP->new;

my ($A, $B) = (201, 202);                    # two clients
my %site = (a1 => 2011, a2 => 2012, b1 => 2021);
my $password = 'correct horse battery';
my %email = (alice => 'alice@client-a.example', bob => 'bob@client-b.example',
             ops => 'ops@guards.example');

# a report of a site (its client from %site's letter)
sub report {
    my ($id, $site, %o) = @_;
    my $client = $site =~ /^201/ ? $A : $B;
    return [ "pn-$id-" . ($o{v} // 1),
             report_json(id => $id, severity => $o{severity} // 'HIGH',
                         comment => "version " . ($o{v} // 1),
                         account => { id => $site, name => "Site $site",
                                      parentClient => $client,
                                      timeZone => 'America/Toronto' }) ];
}

sub ingest {
    $t->enqueue(@_);
    my ($rc, $log) = $t->drain;
    die "drain failed: $log" unless $rc == 0;
}

# the sites exist once each has a report
ingest(report(90001, $site{a1}), report(90002, $site{a2}),
       report(90003, $site{b1}));

my %cookie;
my $secret = 'portal-notify-session-' . ('n' x 32);
for my $who (sort keys %email) {
    my ($role, $client) = $who eq 'ops' ? ('operator', 'NULL')
                        : ('client', $who eq 'alice' ? $A : $B);
    $t->rows("SELECT portal_user_add('$email{$who}', '$password', '$role', "
             . "$client, NULL)");
    my $token = $t->value("SELECT next FROM ("
        . tt_login_sql($email{$who}, $password, '127.0.0.9', 3600) . ") l");
    $cookie{$who} = tt_session_cookie($token, $secret);
}

my $secret_file = tt_write_file("$t->{dir}/session.secret", "$secret\n");
my $repo = TTWorker::repo();

# as conf/nginx.run.conf.in: the mail's link serves the page on GET and
# takes the one-click POST (RFC 8058) to the API; neither needs a login
my $nginx = TrackTikTest::Nginx->start(
    http   => 'tracktik_postgres "' . $t->dsn . '" pool=2;',
    server => <<"CONF");
        tracktik_session_secret_file $secret_file;

        location /portal/api/ {
            tracktik_portal_api;
        }

        location = /portal/notify/unsubscribe {
            if (\$request_method = POST) {
                rewrite ^ /portal/api/notify/unsubscribe last;
            }
            rewrite ^ /portal/unsubscribe.html last;
        }

        location /portal/ {
            root $repo;
            tracktik_portal_auth on;

            location = /portal/unsubscribe.html {
                tracktik_portal_auth off;
            }
        }
CONF

my $origin = 'http://127.0.0.1:' . $nginx->port;

# (status, decoded body or text, headers) of a request as $who
sub call {
    my ($who, $method, $path, %h) = @_;
    my %headers = (%h, $who ? (Cookie => $cookie{$who}) : ());
    $headers{Origin} //= $origin if $method ne 'GET';
    my ($status, $head, $body) = TrackTikTest::_http($method,
        $nginx->url("/portal/api/$path"), $method eq 'GET' ? undef : '',
        \%headers);
    my $data = eval { $json->decode($body) } // $body;
    return ($status, $data, $head);
}

sub subs_of {
    my ($who) = @_;
    my ($status, $data) = call($who, 'GET', 'notify/subscriptions');
    die "subscriptions of $who: $status" unless $status == 200;
    return [ map { $_->{id} } @{ $data->{items} } ];
}

sub rules_row {
    my ($id) = @_;
    return $t->value("SELECT concat_ws(';', coalesce(min_severity, ''),"
        . " mode, coalesce(array_to_string(site_ids, ','), ''),"
        . " deleted_at IS NOT NULL) "
        . "FROM notify_rules WHERE id = $id");
}

# notifications queued for a user, by report: "report:announce" sorted
sub queued_for {
    my ($who) = @_;
    return join ',', map { $_->[0] } $t->rows(
        "SELECT n.report_id || ':' || n.announce FROM notifications n"
        . " JOIN notify_recipients r ON r.id = n.recipient_id"
        . " WHERE r.address = '$email{$who}' ORDER BY n.report_id, n.id");
}

my ($sa, $sb);

subtest 'no session: 401' => sub {
    my ($status) = call(undef, 'GET', 'notify/subscriptions');
    is $status, 401, 'list';
    ($status) = call(undef, 'POST', 'notify/subscriptions');
    is $status, 401, 'create';
};

subtest 'each client user creates and lists their own subscriptions' => sub {
    is_deeply subs_of('alice'), [], 'alice has none yet';

    my ($status, $data) = call('alice', 'POST', "notify/subscriptions?"
                               . "sites=$site{a1}&min_severity=HIGH");
    is $status, 201, 'alice subscribes to her site a1, HIGH or above';
    $sa = $data->{id};
    is_deeply $data->{sites}, [ $site{a1} ], '... for that site';
    is $data->{min_severity}, 'HIGH', '... at HIGH or above';
    is $data->{mode}, 'immediate', '... immediately';

    ($status, $data) = call('bob', 'POST', 'notify/subscriptions');
    is $status, 201, 'bob subscribes to all his sites, any severity';
    $sb = $data->{id};

    is_deeply subs_of('alice'), [ $sa ], 'alice lists hers only';
    is_deeply subs_of('bob'), [ $sb ], 'bob lists his only';
    is $t->value("SELECT count(*) FROM notify_rules WHERE owner_user_id"
                 . " IS NOT NULL"), 2, 'two subscriptions stored';
};

subtest "a client user cannot subscribe to another client's site" => sub {
    my ($status, $data) = call('alice', 'POST',
                               "notify/subscriptions?sites=$site{b1}");
    is $status, 400, "alice names bob's site: 400";
    like $data->{error}, qr/site $site{b1} is not one of your sites/,
         '... saying which';
    ($status, my $nosite) = call('alice', 'POST',
                                 'notify/subscriptions?sites=99999');
    is $nosite->{error} =~ s/\d+/N/gr, $data->{error} =~ s/\d+/N/gr,
       "... the same answer as for a site that does not exist";
    ($status) = call('alice', 'POST', "notify/subscriptions/$sa?"
                     . "sites=$site{a1},$site{b1}");
    is $status, 400, '... nor by changing her own';
    is rules_row($sa), "HIGH;immediate;$site{a1};f", '... unchanged';
    is_deeply subs_of('alice'), [ $sa ], 'nothing was created';
};

subtest "another user's subscription is a 404, as a missing one" => sub {
    my ($status, $data) = call('alice', 'POST',
                               "notify/subscriptions/$sb?min_severity=SEVERE");
    is $status, 404, "alice changes bob's: 404";
    my ($status2, $missing) = call('alice', 'POST',
        'notify/subscriptions/987654321?min_severity=SEVERE');
    is $status2, 404, 'a missing one: 404';
    is_deeply $data, $missing, '... the same answer';
    ($status) = call('alice', 'DELETE', "notify/subscriptions/$sb");
    is $status, 404, "alice deletes bob's: 404";
    is rules_row($sb), ";immediate;;f", "bob's is unchanged, not deleted";
    ($status) = call('bob', 'POST', "notify/subscriptions/$sa?sites=$site{b1}");
    is $status, 404, "bob changes alice's: 404";
};

subtest 'a user changes their own; a bad value is 400, changes nothing' => sub {
    my ($status, $data) = call('alice', 'POST', "notify/subscriptions/$sa?"
                               . "sites=$site{a1},$site{a2}&mode=daily");
    is $status, 400, 'a digest without its time: 400';
    like $data->{error}, qr/digest_at/, '... naming it';
    for my $bad ('min_severity=HUGE', 'mode=hourly', 'digest_at=25:00',
                 'mode=weekly&digest_at=07:00', 'time_zone=Mars/Olympus',
                 'paused=maybe', 'sites=a,b')
    {
        ($status) = call('alice', 'POST', "notify/subscriptions/$sa?$bad");
        is $status, 400, "$bad: 400";
    }
    is rules_row($sa), "HIGH;immediate;$site{a1};f", 'nothing changed';

    ($status, $data) = call('alice', 'POST', "notify/subscriptions/$sa?"
        . "sites=$site{a1},$site{a2}&min_severity=moderate&mode=weekly"
        . "&digest_at=07:30&digest_weekday=mon&time_zone=America/Toronto");
    is $status, 200, 'a weekly digest on Mondays at 07:30, Toronto time';
    is rules_row($sa), "MODERATE;weekly;$site{a1},$site{a2};f", 'stored';
    is $t->value("SELECT time_zone FROM notify_recipients"
                 . " WHERE address = '$email{alice}'"), 'America/Toronto',
       'her digests are in her zone';
    is $data->{digest_weekday}, 'mon', '... on Mondays';

    ($status) = call('alice', 'POST', "notify/subscriptions/$sa?"
                     . "sites=$site{a1}&min_severity=HIGH");
    is $status, 200, 'back to site a1, HIGH, immediately';
    is rules_row($sa), "HIGH;immediate;$site{a1};f", 'stored';
};

subtest 'client users get 403 on the operator routes' => sub {
    for my $r ([ 'GET', 'notify/rules' ], [ 'GET', 'notify/log' ],
               [ 'POST', "notify/rules/$sb?enabled=false" ],
               [ 'POST', 'notify/replay/1' ])
    {
        my ($status) = call('alice', @$r);
        is $status, 403, "$r->[0] $r->[1]: 403";
    }
    is $t->value("SELECT count(*) FROM notify_rules"
                 . " WHERE disabled_at IS NOT NULL"), 0, 'nothing disabled';
};

subtest 'the operator sees every rule' => sub {
    my ($status, $data) = call('ops', 'GET', 'notify/rules');
    is $status, 200, 'notify/rules';
    is_deeply [ sort map { "$_->{id}:$_->{owner}" }
                @{ $data->{subscriptions} } ],
              [ sort "$sa:$email{alice}", "$sb:$email{bob}" ],
              "both clients' subscriptions, with their owners";
    ($status, $data) = call('ops', 'GET', 'notify/subscriptions');
    is_deeply $data->{items}, [], "... which are not the operator's own";
};

subtest 'methods and origins' => sub {
    my ($status, $data, $head) = call('alice', 'DELETE',
                                      'notify/subscriptions');
    is $status, 405, 'DELETE without an id: 405';
    is $head->{allow}, 'GET, HEAD, POST', '... Allow names what the path takes';
    ($status) = call('alice', 'PUT', "notify/subscriptions/$sa");
    is $status, 405, 'PUT: 405';
    ($status) = call('alice', 'DELETE', "notify/subscriptions/$sa",
                     Origin => 'https://evil.example');
    is $status, 403, 'a cross-origin DELETE: 403';
    is rules_row($sa), "HIGH;immediate;$site{a1};f", '... not deleted';
};

my $alice_mail;

subtest "end to end: its owner hears of their own client's incidents only"
    => sub {
    # tampered: alice's stored match says any client, any site, and it
    # names another recipient beside her
    $t->rows("UPDATE notify_rules SET client_ids = NULL, site_ids = NULL"
             . " WHERE id = $sa");
    $t->rows("WITH r AS (INSERT INTO notify_recipients (kind, address)"
             . " VALUES ('email', 'spy\@elsewhere.example') RETURNING id)"
             . " INSERT INTO notify_rule_targets (rule_id, recipient_id)"
             . " SELECT $sa, id FROM r");
    ingest(report(91001, $site{a1}), report(91002, $site{b1}),
           report(91003, $site{a1}, severity => 'LOW'));

    is queued_for('alice'), '91001:new', "alice: her site's HIGH incident only";
    is queued_for('bob'), '91002:new', "bob: his site's incident only";
    $email{spy} = 'spy@elsewhere.example';
    is queued_for('spy'), '', 'nobody else';

    my ($rc, $out, $err) = $n->send_due;
    is $rc, 0, 'notify run --drain' or diag $err;
    my @mails = $n->mails;
    my @to_alice = grep { /^X-TT-Envelope-To: <\Q$email{alice}\E>/m } @mails;
    my @to_bob = grep { /^X-TT-Envelope-To: <\Q$email{bob}\E>/m } @mails;
    is scalar @to_alice, 1, 'one mail to alice';
    like $to_alice[0], qr/#incident=91001\b/, '... about her incident';
    unlike join('', @to_alice), qr/9100[23]/, '... none about the others';
    is scalar @to_bob, 1, 'one mail to bob';
    like $to_bob[0], qr/#incident=91002\b/, '... about his';
    $alice_mail = $to_alice[0];
};

subtest 'the one-click unsubscribe link of that mail, with no login' => sub {
    like $alice_mail,
         qr/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m,
         'the mail offers one-click (RFC 8058)';
    my ($link) = $alice_mail =~ /^List-Unsubscribe: <([^>]+)>/m;
    my ($token) = ($link // '')
        =~ m{/portal/notify/unsubscribe\?token=([0-9a-f.]+)$};
    ok $token, 'its link is the portal\'s notify/unsubscribe' or diag $link;
    my $url = $nginx->url("/portal/notify/unsubscribe?token=$token");

    my ($status, $head, $body) = tt_get($url);
    is $status, 200, 'GET the link: the page, no login';
    like $body, qr/unsubscribe\.js/, '... which asks before it acts';
    ($status, my $data) = call(undef, 'GET', "notify/unsubscribe?token=$token");
    is $status, 200, 'the page checks the token';
    is $data->{address}, $email{alice}, '... whose subscription it is';
    is $t->value('SELECT count(*) FROM notify_unsubscribes'), 0,
       'GET changed nothing';

    (my $forged = $token) =~ s/\.(.)/'.' . ($1 eq 'a' ? 'b' : 'a')/e;
    for my $bad ([ $forged, 404 ], [ '1.abc', 400 ], [ '', 400 ]) {
        ($status) = tt_post($nginx->url("/portal/notify/unsubscribe?token="
                                        . $bad->[0]),
                            'List-Unsubscribe=One-Click',
                            { 'Content-Type' =>
                                  'application/x-www-form-urlencoded' });
        is $status, $bad->[1], "token '$bad->[0]': $bad->[1]";
    }
    is $t->value('SELECT count(*) FROM notify_unsubscribes'), 0,
       '... and nothing changed';

    # as a mail client does it: no cookie, no Origin
    ($status, $head, $body) = tt_post($url, 'List-Unsubscribe=One-Click',
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is $status, 200, 'the one-click POST: 200' or diag $body;
    is $json->decode($body)->{unsubscribed}, JSON::PP::true, '... unsubscribed';
    is $t->value("SELECT count(*) FROM notify_unsubscribes WHERE rule_key"
                 . " = 'subscription:$sa'"), 1, "alice's subscription paused";
    ($status, $data) = call('alice', 'GET', 'notify/subscriptions');
    is $data->{items}[0]{paused}, JSON::PP::true, 'her page says so';

    ingest(report(91004, $site{a1}));
    is queued_for('alice'), '91001:new', 'paused: nothing more queued';

    ($status, $data) = call('alice', 'POST', "notify/subscriptions/$sa?"
                            . "sites=$site{a1}&min_severity=HIGH&paused=false");
    is $status, 200, 'she resumes it';
    ingest(report(91005, $site{a1}));
    is queued_for('alice'), '91001:new,91005:new', 'queued again';
};

subtest 'the operator: the delivery log, a dead one replayed' => sub {
    $n->fail_smtp(550, 1);
    my ($rc, $out, $err) = $n->send_due('--max-attempts', 1);
    my $dead = $t->value("SELECT n.id FROM notifications n JOIN"
        . " notify_recipients r ON r.id = n.recipient_id WHERE r.address ="
        . " '$email{alice}' AND n.report_id = 91005");
    is $t->value("SELECT state FROM notifications WHERE id = $dead"), 'dead',
       'refused by the relay once: dead' or diag $err;

    my ($status, $data) = call('ops', 'GET', 'notify/log?state=dead');
    is $status, 200, 'notify/log';
    my ($row) = grep { $_->{notification} == $dead } @{ $data->{items} };
    ok $row, 'the dead attempt is in the log';
    is $row->{status}, '550', '... with the SMTP reply';
    is $row->{recipient}, $email{alice}, '... and its recipient';
    ($status, $data) = call('ops', 'GET', 'notify/log');
    ok((grep { $_->{status} eq '250' && $_->{ok} } @{ $data->{items} }),
       'the delivered ones too');
    ($status) = call('ops', 'GET', 'notify/log?state=lost');
    is $status, 400, 'a bad state: 400';

    ($status) = call('alice', 'POST', "notify/replay/$dead");
    is $status, 403, 'alice may not replay';
    ($status) = call('ops', 'POST', "notify/replay/$dead");
    is $status, 200, 'the operator replays it';
    ($status) = call('ops', 'POST', "notify/replay/$dead");
    is $status, 409, '... not twice: it is not dead any more';
    ($status) = call('ops', 'POST', 'notify/replay/987654321');
    is $status, 404, 'a missing one: 404';
    ($rc, $out, $err) = $n->send_due;
    is $t->value("SELECT state FROM notifications WHERE id = $dead"), 'sent',
       'sent this time' or diag $err;
};

subtest 'the operator switches a rule off and on' => sub {
    my ($status, $data) = call('ops', 'POST', "notify/rules/$sb?enabled=false");
    is $status, 200, "bob's subscription switched off";
    ingest(report(92001, $site{b1}));
    is queued_for('bob'), '91002:new', 'nothing queued for it';
    ($status, $data) = call('ops', 'GET', 'notify/rules');
    my ($s) = grep { $_->{id} == $sb } @{ $data->{subscriptions} };
    is $s->{enabled}, JSON::PP::false, 'the list says so';
    is $s->{disabled_by}, $email{ops}, '... and who';
    ($status) = call('ops', 'POST', "notify/rules/$sb?enabled=maybe");
    is $status, 400, 'enabled=maybe: 400';
    ($status) = call('ops', 'POST', "notify/rules/$sb?enabled=true");
    is $status, 200, 'on again';
    ingest(report(92002, $site{b1}));
    is queued_for('bob'), '91002:new,92002:new', 'queued again';
};

subtest "a daily digest at 08:00 in the subscriber's zone" => sub {
    my ($status) = call('bob', 'POST', "notify/subscriptions/$sb?mode=daily"
                        . '&digest_at=08:00&time_zone=America/Toronto');
    is $status, 200, 'bob: a daily digest at 08:00, Toronto time';
    ingest(report(94001, $site{b1}), report(94002, $site{b1}));
    is $t->value("SELECT string_agg(n.state, ',') FROM notifications n"
                 . " WHERE n.report_id IN (94001, 94002)"), 'digest,digest',
       'both wait for the digest';
    # the first 08:00 in Toronto after they came, and a minute before it
    # (UTC, ISO 8601)
    my ($at, $before) = @{ ($t->rows("SELECT to_char(a AT TIME ZONE 'UTC',"
        . " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char((a - interval"
        . " '1 minute') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        . " FROM (SELECT min(a) AS a FROM (SELECT ((now() AT TIME ZONE"
        . " 'America/Toronto')::date + d + time '08:00') AT TIME ZONE"
        . " 'America/Toronto' AS a FROM generate_series(0, 1) d) y"
        . " WHERE a > now()) x"))[0] };
    $n->send_due;               # what is due anyway goes first
    my @before = $n->mails;
    $n->send_due('--now', $before);
    is scalar($n->mails), scalar(@before), 'nothing at 07:59';
    my ($rc, $out, $err) = $n->send_due('--now', $at);
    my @new = ($n->mails)[scalar(@before) .. scalar($n->mails) - 1];
    is scalar @new, 1, 'one mail at 08:00' or diag $err;
    like $new[0] // '', qr/^X-TT-Envelope-To: <\Q$email{bob}\E>/m, '... to bob';
    like $new[0] // '', qr/#incident=94001\b.*#incident=94002\b/s,
         '... listing both incidents';
};

subtest 'a user deletes their own' => sub {
    my ($status) = call('alice', 'DELETE', "notify/subscriptions/$sa");
    is $status, 200, 'deleted';
    is_deeply subs_of('alice'), [], 'gone from her list';
    ingest(report(93001, $site{a1}));
    is queued_for('alice'), '91001:new,91005:new', 'nothing more queued';
    ($status) = call('alice', 'DELETE', "notify/subscriptions/$sa");
    is $status, 404, 'deleting it again: 404';
};

$nginx->stop;
done_testing();
