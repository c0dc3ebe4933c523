#!/usr/bin/perl
# tracktik-worker billing sync against the TrackTik simulator: billing
# lines become billing-adhoc-items exactly once each, with the mapped bill
# item, the site as account and the post's contract, credits as negative
# quantities; through a storm of 429s, 500s, 503s, gateway timeouts and
# dropped connections (some after TrackTik stored the item) with three
# sync processes at once, nothing is lost and nothing is posted twice.
# Lines that cannot be posted say why.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run start timeout);
use Time::HiRes qw(time sleep);
use TTWorker;
use TTSim;

my $t = TTWorker->new('api_billing');
my $sim = TTSim->new(repo => TTWorker::repo());
my $url = $sim->url;
my $log = '';

sub worker_in {
    my ($stdin, @args) = @_;
    my ($out, $err) = ('', '');
    run([ TTWorker::binary(), @args, '--dsn', $t->dsn ], \$stdin, \$out,
        \$err, timeout(300));
    $log .= $err;
    return ($? >> 8, $out, $err);
}

my $contracts = $t->file('contracts.json', TTWorker::json_encode({
    name => 'api billing test', effective_from => '2020-01-01',
    rules => [
        { id => 'adh', priority => 10,
          match => { category => 'After hours dispatch' },
          bill_code => 'ADH', quantity => 1.0, unit_price => 95.00 },
        { id => 'theft', priority => 20, match => { category => 'Theft' },
          bill_code => 'GRD', quantity => 2, unit_price => 40.00 },
        { id => 'vandalism', priority => 30,
          match => { category => 'Vandalism' },
          bill_code => 'NPR', quantity => 1, unit_price => 10 },
    ] }));
$t->load_contracts($contracts);

my $secret_file = $t->file('client.secret', "demo-secret\n");
my ($rc, $out, $err) = worker_in("api-password\n", 'auth', 'login', '--url',
    $url, '--client-id', 'demo', '--client-secret-file', $secret_file,
    '--username', 'api', '--password-stdin');
is $rc, 0, 'logged in to the simulator' or diag $err;

# the simulator's posts: id => [site, contract]
my %post;
for my $p (@{ $sim->get('/rest/v1/positions?limit=1000')->{data} }) {
    $post{ $p->{id} } = [ $p->{account}, $p->{contract} ];
}
my @billable = sort { $a <=> $b } grep { defined $post{$_}[1] } keys %post;
my ($courtesy) = grep { !defined $post{$_}[1] } keys %post;
ok @billable >= 10 && $courtesy, 'the tenant has billable posts and one without a contract';

sub report {
    my ($id, $pos, $category, $updated) = @_;
    my $r = report_json(id => $id, category => $category,
        updatedOn => $updated // '2026-03-03T00:00:00Z',
        account => { id => $post{$pos}[0], parentClient => 101,
                     timeZone => 'America/Toronto' });
    $r->{position} = { id => $pos };
    return $r;
}

# 40 after-hours dispatches and 5 thefts on billable posts, one
# vandalism (NPR: no such bill item) and one dispatch at the post without
# a contract
my @jobs;
for my $i (0 .. 39) {
    push @jobs, [ "adh-$i", report(50000 + $i, $billable[$i % @billable],
                                   'After hours dispatch') ];
}
for my $i (0 .. 4) {
    push @jobs, [ "theft-$i", report(51000 + $i, $billable[$i], 'Theft') ];
}
push @jobs, [ 'vandal', report(52000, $billable[0], 'Vandalism') ];
push @jobs, [ 'courtesy', report(53000, $courtesy, 'After hours dispatch') ];
$t->enqueue(@jobs);
($rc, $err) = $t->drain;
is $rc, 0, 'the worker recorded the reports' or diag $err;

# five dispatches re-categorised as thefts: a credit and a new charge each
$t->enqueue(map { [ "upd-$_", report(50000 + $_, $billable[$_ % @billable],
                                     'Theft', '2026-03-04T00:00:00Z') ] }
            0 .. 4);
($rc, $err) = $t->drain;
is $rc, 0, 'and the updates' or diag $err;

my $lines = $t->value("SELECT count(*) FROM billing_lines");
is $lines, 57, '57 billing lines: 47 charges, 5 credits, 5 new charges';
is $t->value("SELECT count(*) FROM billing_lines WHERE kind = 'credit'"), 5,
    'five of them credits';

subtest 'storm: 429s, 500s, 503s, timeouts and dropped answers, three processes' => sub {
    # 5 requests a second; faults on the POSTs that TrackTik still stores
    $sim->config({ rate_limit_requests => 10, rate_limit_window => 2,
                   gateway_timeout => 1 });
    my $bill = '/rest/v1/billing-adhoc-items';
    my ($status) = $sim->faults([
        { kind => 'drop_after', method => 'POST', path => $bill, count => 3 },
        { kind => 'status', status => 500, apply => JSON::PP::true,
          method => 'POST', path => $bill, count => 3 },
        { kind => 'timeout', apply => JSON::PP::true, method => 'POST',
          path => $bill, count => 2 },
        { kind => 'status', status => 503, count => 4 },
        { kind => 'drop', count => 3 },
        { kind => 'status', status => 500, probability => 0.15 },
    ]);
    is $status, 200, 'fault rules installed';

    my $end = time + 400;
    my $rounds = 0;
    while (time < $end) {
        $rounds++;
        my @h;
        for my $i (1 .. 3) {
            my ($o, $e) = ('', '');
            push @h, [ start([ TTWorker::binary(), 'billing', 'sync', '--once',
                               '--api-backoff-cap-ms', '1000',
                               '--api-timeout-ms', '5000', '--dsn', $t->dsn ],
                             \undef, \$o, \$e, timeout(400)), \$e ];
        }
        for (@h) {
            $_->[0]->finish;
            $log .= ${ $_->[1] };
            my $code = $_->[0]->result;
            diag ${ $_->[1] } unless $code == 0 || $code == 3;
        }
        last unless $t->value("SELECT count(*) FROM billing_lines"
                              . " WHERE state = 'pending'");
    }
    note "$rounds rounds of three sync processes";
    is $t->value("SELECT count(*) FROM billing_lines WHERE state = 'pending'"),
        0, 'no line left pending';

    $sim->faults([]);
    $sim->config({ rate_limit_requests => 0 });
    my $st = $sim->state;
    my $faults = 0;
    $faults += $st->{counters}{$_} for grep { /^faults\./ } keys %{ $st->{counters} };
    ok $faults >= 15, "the storm happened ($faults faults fired)";
    ok(($st->{counters}{'http.429'} // 0) > 0,
       'the request budget answered 429s (' . ($st->{counters}{'http.429'} // 0) . ')');
    like $log, qr/event=billing_line_found/,
        'a POST whose answer was lost was found by its key, not re-posted';

    my $posted = $t->value("SELECT count(*) FROM billing_lines"
                           . " WHERE state = 'posted'");
    is $posted, 55, 'every postable line posted (55 of 57)';
    is $st->{billingAdhocItems}{count}, 55, 'the simulator holds 55 ad-hoc items: none lost';
    is $st->{billingAdhocItems}{duplicateDescriptions}, 0, 'and no duplicate'
        or diag explain [ $st->{billingAdhocItems}, $st->{counters},
                          $st->{responses} ], $log;
    is $t->value("SELECT count(DISTINCT external_id) FROM billing_lines"
                 . " WHERE state = 'posted'"), 55, 'each line has its own item id';
};

subtest 'each item says what the line says' => sub {
    my %items = map { $_->{id} => $_ }
        @{ $sim->get('/rest/v1/billing-adhoc-items?limit=1000')->{data} };
    my @rows = $t->rows("SELECT b.idempotency_key, b.external_id, b.quantity,"
        . " b.unit_price, b.site_id, b.bill_code, b.service_date,"
        . " l.raw->'position'->>'id', b.kind"
        . " FROM billing_lines b JOIN incidents_ledger l ON l.id = b.ledger_id"
        . " WHERE b.state = 'posted' ORDER BY b.id");
    my %bill_item = (ADH => 700, GRD => 702);
    my $bad = 0;
    my $credits = 0;
    for my $r (@rows) {
        my ($key, $ext, $qty, $price, $site, $code, $date, $pos, $kind) = @$r;
        my $it = $items{$ext};
        my $ok = $it
            && index($it->{description}, "[tt:$key] $code") == 0
            && $it->{quantity} == $qty && $it->{price} == $price
            && $it->{account} == $site && $it->{serviceDate} eq $date
            && $it->{contract} == $post{$pos}[1]
            && $it->{billItem} == $bill_item{$code};
        $credits++ if $ok && $kind eq 'credit' && $it->{quantity} < 0;
        $bad++ unless $ok;
        diag explain [ $r, $it ] unless $ok;
    }
    is $bad, 0, 'price, quantity, date, account, contract, bill item and key match';
    is $credits, 5, 'credit lines posted as negative quantities';
    is $t->value("SELECT count(*) FROM tracktik_bill_items WHERE source = 'api'"),
        2, 'ADH and GRD were mapped by their customId';
    ok $t->value("SELECT count(*) FROM tracktik_positions") <= scalar(keys %post),
        'each post fetched once and cached';
};

subtest 'lines that cannot be posted say why' => sub {
    my ($e) = $t->value("SELECT last_error FROM billing_lines"
                        . " WHERE bill_code = 'NPR' AND state = 'failed'");
    like $e, qr/bill code NPR: no TrackTik bill item has it as customId; map it with INSERT INTO tracktik_bill_items/,
        'an unknown bill code';
    ($e) = $t->value("SELECT last_error FROM billing_lines"
                     . " WHERE report_id = 53000 AND state = 'failed'");
    like $e, qr/no contract: post $courtesy has no contract \(non billable\) and site \d+ has no row in tracktik_site_contracts/,
        'a post without a contract';

    # the operator gives the site a default contract and retries the line
    $t->rows("INSERT INTO tracktik_site_contracts VALUES ($post{$courtesy}[0], 300)");
    $t->rows("UPDATE billing_lines SET state = 'pending', last_error = NULL"
             . " WHERE report_id = 53000");
    my ($rc, $out, $err) = worker_in('', 'billing', 'sync', '--once');
    is $rc, 0, 'sync exits 0' or diag $err;
    like $out, qr/billing sync: 1 posted, 0 failed, 0 still pending/, 'says what it did';
    my $ext = $t->value("SELECT external_id FROM billing_lines WHERE report_id = 53000");
    my $it = $sim->get("/rest/v1/billing-adhoc-items/$ext")->{data};
    is $it->{contract}, 300, "posted with the site's default contract";
    is $sim->state->{billingAdhocItems}{duplicateDescriptions}, 0, 'still no duplicate';

    ($rc, $out) = worker_in('', 'billing', 'sync', '--once');
    like $out, qr/billing sync: 0 posted, 0 failed, 0 still pending/,
        'a second sync has nothing to do';
};

subtest 'the request budget is shared through the database' => sub {
    my @w = map { $t->value("SELECT tracktik_api_take('budget-test', 1, 3)") } 1 .. 4;
    is_deeply [ @w[0 .. 2] ], [ 0, 0, 0 ], 'a burst of three is granted';
    ok $w[3] > 1, "the fourth waits for the refill ($w[3] s)";
    $t->rows("SELECT tracktik_api_defer('budget-test2', 30)");
    ok $t->value("SELECT tracktik_api_take('budget-test2', 6000, 100)") > 20,
        "a 429's Retry-After holds every worker back";
};

unlike $log, qr/demo-secret|api-password/, 'no secret in the logs';

done_testing;
