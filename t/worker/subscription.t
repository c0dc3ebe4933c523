#!/usr/bin/perl
# tracktik-worker subscription create|list|suspend|enable|archive against
# the TrackTik simulator, end to end: `create` writes a new secret to the
# module's secret file (mode 600) and prints the nginx.conf lines; an nginx
# configured with exactly those lines then receives the simulator's
# deliveries for that subscription, signed with that secret, and queues
# them (202); suspended or archived, nothing is delivered.  Input TrackTik
# refuses leaves the secret file as it was; the secret reaches no output.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use lib "$FindBin::Bin/../helper";
use Test::More;
use IPC::Run qw(run timeout);
use TTWorker;
use TTSim;
use TrackTikTest;
use TrackTikNginxConf;

my $t = TTWorker->new('subscription');
# deliveries only when the test asks for them (/__sim/deliver)
my $sim = TTSim->new(repo => TTWorker::repo(), args => [ '--rate', '0' ]);
my $port = TrackTikNginxConf::free_port();
my $hook = "http://127.0.0.1:$port/webhooks/tracktik";
my $secret_file = "$t->{dir}/webhook.secret";
my $all_output = '';

sub worker {
    my (@args) = @_;
    my ($out, $err) = ('', '');
    run([ TTWorker::binary(), @args, '--dsn', $t->dsn ], \undef, \$out,
        \$err, timeout(120));
    $all_output .= $out . $err;
    return ($? >> 8, $out, $err);
}

sub slurp {
    open my $fh, '<', $_[0] or return undef;
    local $/;
    return scalar <$fh>;
}

sub jobs { $t->value("SELECT count(*) FROM tracktik_jobs") }

# one new report event in the tenant: (admin status, deliveries)
sub trigger {
    my ($status, $d) = $sim->admin('POST', '/__sim/deliver', { kind => 'new' });
    return ($status, $d->{deliveries} || [], $d);
}

my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in to the simulator' or diag $err;

subtest 'bad input: refused before anything changes' => sub {
    my @cases = (
        [ [ '--secret-file', $secret_file ], qr/needs --webhook-url URL and --secret-file FILE/ ],
        [ [ '--webhook-url', $hook ], qr/needs --webhook-url URL and --secret-file FILE/ ],
        [ [ '--webhook-url', 'ftp://x/y', '--secret-file', $secret_file ], qr/--webhook-url.*not the URL of a webhook location/ ],
        [ [ '--webhook-url', 'http://example.com/hook', '--secret-file', $secret_file ], qr/http:\/\/ only to this machine/ ],
        [ [ '--webhook-url', $hook, '--secret-file', $secret_file, '--custom-id', '' ], qr/--custom-id.*must not be empty/ ],
        [ [ '--webhook-url', $hook, '--secret-file', $secret_file, '--name', ' ' ], qr/--name.*must not be empty/ ],
        [ [ '--webhook-url', $hook, '--secret-file', $secret_file, '--secret-header', 'Bad Header' ], qr/not a header name/ ],
        [ [ '--webhook-url', $hook, '--secret-file', $secret_file, '--failure-email', 'nobody' ], qr/not an email address/ ],
    );
    for my $c (@cases) {
        my ($rc, $out, $err) = worker('subscription', 'create', @{ $c->[0] });
        is $rc, 2, "@{ $c->[0] }: exit 2";
        like $err, $c->[1], '... says what is wrong';
    }
    ok !-e $secret_file, 'no secret file was written';
    is scalar @{ $sim->get('/rest/v1/events-subscriptions')->{data} }, 0,
        'no subscription was made';
};

subtest 'the simulator refuses what TrackTik requires and is missing' => sub {
    my %body = (customId => 'c', name => 'n', events => [ 'entity:reports:created' ],
                url => $hook, secretHeaderName => 'TrackTik-Subscription-Secret',
                secret => 'a-secret-of-some-length');
    for my $field (qw(customId name events url secretHeaderName secret)) {
        my %b = %body;
        delete $b{$field};
        my ($status, $d) = $sim->admin('POST', '/rest/v1/events-subscriptions', \%b,
            { Authorization => 'Bearer ' . $sim->token });
        is $status, 400, "without $field: 400";
        is_deeply $d, { status => 400, error => "Validation failed: `$field` is required" },
            "... in TrackTik's error shape";
    }
};

subtest 'TrackTik refuses: the secret file is as it was' => sub {
    # all events must be of one resource (EventsSubscriptionsPost)
    my ($rc, $out, $err) = worker('subscription', 'create', '--webhook-url',
        $hook, '--secret-file', $secret_file, '--events',
        'entity:reports:created,entity:employees:created');
    is $rc, 1, 'exit 1';
    like $err, qr/creating the subscription: TrackTik answered .*all events should be for the same resource/,
        "TrackTik's reason";
    ok !-e $secret_file, 'the secret file it created is gone again';

    TTWorker::file($t, 'webhook.secret', "an-older-secret-0123456789abcdef");
    chmod 0600, $secret_file;
    ($rc, $out, $err) = worker('subscription', 'create', '--webhook-url',
        $hook, '--secret-file', $secret_file, '--events', 'reports:created');
    is $rc, 1, 'a malformed event name: exit 1';
    like $err, qr/domain:entity:trigger/, "TrackTik's reason";
    is slurp($secret_file), "an-older-secret-0123456789abcdef",
        'an existing file keeps its bytes exactly';

    chmod 0644, $secret_file;
    ($rc, $out, $err) = worker('subscription', 'create', '--webhook-url',
        $hook, '--secret-file', $secret_file);
    is $rc, 1, 'a secret file others may read: exit 1';
    like $err, qr/may be read by other users \(mode 644\): chmod 600/, 'says so';
    unlink $secret_file;
    is scalar @{ $sim->get('/rest/v1/events-subscriptions')->{data} }, 0,
        'still no subscription';
};

my ($sub_id, $nginx, $secret);

subtest 'create: the secret in the file, the nginx.conf lines printed' => sub {
    my ($rc, $out, $err) = worker('subscription', 'create', '--webhook-url',
        $hook, '--secret-file', $secret_file, '--custom-id', 'guards-42',
        '--name', 'Reports to the proxy', '--failure-email', 'ops@example.com',
        '--regions', '3');
    is $rc, 0, 'exit 0' or diag $err;
    ($sub_id) = $out =~ /^subscription (\d+) created: entity:reports:created,entity:reports:updated -> \Q$hook\E$/m;
    ok $sub_id, "subscription $sub_id" or diag $out;
    is((stat $secret_file)[2] & 07777, 0600, 'the secret file is mode 600');
    ($secret) = slurp($secret_file) =~ /\A([0-9a-f]{64})\n\z/;
    ok $secret, 'it holds one new line: 64 hex digits (32 random bytes)';

    my ($conf) = $out =~ /^(    location = \/webhooks\/tracktik \{\n.*?^    \}\n)/ms;
    ok $conf, 'the location block is printed' or diag $out;
    like $conf, qr/^\s+tracktik_webhook_secret_file \Q$secret_file\E;$/m,
        '... naming the secret file';

    my $d = $sim->get("/rest/v1/events-subscriptions/$sub_id")->{data};
    is_deeply [ @$d{qw(customId name url failureEmail)} ],
        [ 'guards-42', 'Reports to the proxy', $hook, 'ops@example.com' ],
        'TrackTik has its customId, name, url and failureEmail';
    is_deeply $d->{events}, [ 'entity:reports:created', 'entity:reports:updated' ],
        'the report events';
    is_deeply $d->{contextFilters},
        { filters => [ { tag => 'context.region.3', includeChildren => JSON::PP::true } ] },
        'the region filter';
    is_deeply $d->{entityResponse}{include},
        [ qw(reportFields reportTemplate account position reportFlag createdOn updatedOn) ],
        'the body includes what the contract rules need';

    # nginx with the printed lines, as the operator would paste them
    $nginx = TrackTikTest::Nginx->start(port => $port,
        http => qq{    tracktik_postgres "} . $t->dsn . qq{" pool=2;\n},
        server => $conf);
};

subtest 'list shows it' => sub {
    my ($rc, $out, $err) = worker('subscription', 'list');
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/^id\tcustomId\tname\tevents\turl\tlastTriggeredOn$/m, 'a header';
    like $out, qr/^$sub_id\tguards-42\tReports to the proxy\tentity:reports:created,entity:reports:updated\t\Q$hook\E\t-$/m,
        'its row (never triggered yet)';
};

subtest 'an event arrives signed with the new secret and is queued' => sub {
    my ($status, $dl) = trigger();
    is $status, 200, 'the simulator made the event';
    is scalar @$dl, 1, 'one delivery';
    is $dl->[0]{target}, "subscription $sub_id", 'to the subscription';
    is $dl->[0]{status}, 202, 'nginx accepted it (202: queued)';
    is jobs(), 1, 'one job in the queue';
    my ($key, $body) = @{ ($t->rows("SELECT dedupe_key, payload::text FROM tracktik_jobs"))[0] };
    like $body, qr/"id":\s*$dl->[0]{report}\b/, 'the delivered report';

    # the module really checks the signature with this secret
    my $raw = '{"id":1}';
    my ($st) = tt_post($nginx->url('/webhooks/tracktik'), $raw, {
        'Content-Type' => 'application/json',
        'TrackTik-Subscription-Secret' => tt_hmac_hex('sha512', 'another-secret-0123456789', $raw) });
    is $st, 401, 'a body signed with another secret is refused';
    ($st) = tt_post($nginx->url('/webhooks/tracktik'), $raw, {
        'Content-Type' => 'application/json',
        'TrackTik-Subscription-Secret' => tt_hmac_hex('sha512', $secret, $raw) });
    is $st, 202, 'one signed with the file\'s secret is queued';
    $t->rows("DELETE FROM tracktik_jobs WHERE payload = '{\"id\":1}'");

    my ($rc, $out) = worker('subscription', 'list');
    like $out, qr/^$sub_id\t.*\t\d{4}-\d\d-\d\dT\S+$/m, 'list shows when it was last triggered';
};

subtest 'suspended: nothing is delivered' => sub {
    my ($rc, $out, $err) = worker('subscription', 'suspend', $sub_id);
    is $rc, 2, 'no --reason: exit 2';
    like $err, qr/needs --reason/, 'TrackTik requires a reason';

    ($rc, $out, $err) = worker('subscription', 'suspend', $sub_id, '--reason',
                               'proxy maintenance');
    is $rc, 0, 'exit 0' or diag $err;
    is $out, "subscription $sub_id suspended\n", 'says so';
    my ($status, $dl, $d) = trigger();
    is $status, 400, 'the event finds no active subscription';
    like $d->{error}, qr/no delivery URL/, '... as the simulator says';
    is jobs(), 1, 'nothing new queued';
};

subtest 'enabled again: delivered again' => sub {
    my ($rc, $out, $err) = worker('subscription', 'enable', $sub_id);
    is $rc, 0, 'exit 0' or diag $err;
    is $out, "subscription $sub_id enabled\n", 'says so';
    my ($status, $dl) = trigger();
    is $status, 200, 'the event was made';
    is $dl->[0]{status}, 202, 'and delivered (202)';
    is jobs(), 2, 'a second job';
};

subtest 'archived: gone for good' => sub {
    my ($rc, $out, $err) = worker('subscription', 'archive', $sub_id);
    is $rc, 0, 'exit 0' or diag $err;
    is $out, "subscription $sub_id archived\n", 'says so';
    my ($status) = trigger();
    is $status, 400, 'no delivery';
    is jobs(), 2, 'nothing new queued';
    ($rc, $out, $err) = worker('subscription', 'enable', $sub_id);
    is $rc, 1, 'enable after archive: exit 1';
    like $err, qr/subscription $sub_id: the enable action: TrackTik answered .*archived/,
        "TrackTik's reason";
    ($rc, $out, $err) = worker('subscription', 'suspend', '99999', '--reason', 'x');
    is $rc, 1, 'an unknown id: exit 1';
    like $err, qr/Not found/, "TrackTik's 404";
    ($rc, $out, $err) = worker('subscription', 'enable', 'abc');
    is $rc, 2, 'not an id: exit 2';
};

subtest 'the secret reached no output' => sub {
    ok $secret, 'there was a secret';
    unlike $all_output, qr/\Q$secret\E/, 'not in any command\'s stdout or stderr';
    unlike $nginx->error_log, qr/\Q$secret\E/, 'not in nginx\'s error log';
    $nginx->stop;
};

done_testing;
