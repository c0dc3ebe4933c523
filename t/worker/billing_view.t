#!/usr/bin/perl
# `tracktik-worker billing list` and `billing retry` on billing lines that
# real jobs produced and the billing sync posted to the TrackTik
# simulator: states (pending, posted, failed, in_doubt), quantity x price
# = amount (the line's price, else the bill item's default), totals per
# client and code, the filters, CSV; failed lines retried after the
# operator fixed their cause are posted by the next sync.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run timeout);
use TTWorker;
use TTSim;

my $t = TTWorker->new('billing_view');
my $sim = TTSim->new(repo => TTWorker::repo());

sub worker_in {
    my ($stdin, @args) = @_;
    my ($out, $err) = ('', '');
    run([ TTWorker::binary(), @args, '--dsn', $t->dsn ], \$stdin, \$out,
        \$err, timeout(300));
    return ($? >> 8, $out, $err);
}

sub list { return worker_in('', 'billing', 'list', @_) }

$t->load_contracts($t->file('contracts.json', TTWorker::json_encode({
    name => 'billing view test', effective_from => '2020-01-01',
    rules => [
        { id => 'adh', priority => 10,
          match => { category => 'After hours dispatch' },
          bill_code => 'ADH', quantity => 1.0, unit_price => 95.00 },
        { id => 'theft', priority => 20, match => { category => 'Theft' },
          bill_code => 'GRD', quantity => 2, unit_price => 40.00 },
        # no price in the contract: the bill item's default price
        { id => 'alarm', priority => 25, match => { category => 'Alarm response' },
          bill_code => 'ALR', quantity => 1.5 },
        { id => 'vandalism', priority => 30,
          match => { category => 'Vandalism' },
          bill_code => 'NPR', quantity => 1, unit_price => 10 },
    ] })));

my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in to the simulator' or diag $err;

my %post;
for my $p (@{ $sim->get('/rest/v1/positions?limit=1000')->{data} }) {
    $post{ $p->{id} } = [ $p->{account}, $p->{contract} ];
}
my @billable = sort { $a <=> $b } grep { defined $post{$_}[1] } keys %post;
my ($courtesy) = grep { !defined $post{$_}[1] } keys %post;

# the operator's mapping of ALR, with the price the contract leaves out
my %bill_item = map { $_->{customId} => $_->{id} }
    @{ $sim->get('/rest/v1/bill-items?limit=100')->{data} };
$t->rows("INSERT INTO tracktik_bill_items (bill_code, bill_item_id,"
         . " default_price) VALUES ('ALR', $bill_item{ALR}, 60)");

sub report {
    my ($id, $pos, $client, $category, $day, $updated) = @_;
    my $r = report_json(id => $id, category => $category,
        reportDateTime => "${day}T15:00:00Z",
        updatedOn => $updated // '2026-03-03T00:00:00Z',
        account => { id => $post{$pos}[0], parentClient => $client,
                     timeZone => 'America/Toronto' });
    $r->{position} = { id => $pos };
    return $r;
}

# 5 dispatches, 2 thefts, 2 alarms, a vandalism (NPR: no such bill item:
# fails) and a dispatch at a post without a contract (fails); the client
# and site of each line are the simulator's (the worker enriches them)
my ($p1, $p2, $p3) = @billable[0 .. 2];
$t->enqueue(
    [ 'a1', report(70001, $p1, 101, 'After hours dispatch', '2026-03-01') ],
    [ 'a2', report(70002, $p1, 101, 'After hours dispatch', '2026-03-02') ],
    [ 'a3', report(70003, $p2, 101, 'After hours dispatch', '2026-03-10') ],
    [ 't1', report(70004, $p1, 101, 'Theft', '2026-03-02') ],
    [ 't2', report(70005, $p2, 101, 'Theft', '2026-03-11') ],
    [ 'b1', report(70006, $p3, 102, 'After hours dispatch', '2026-03-02') ],
    [ 'b2', report(70007, $p3, 102, 'After hours dispatch', '2026-03-03') ],
    [ 'r1', report(70008, $p3, 102, 'Alarm response', '2026-03-03') ],
    [ 'r2', report(70009, $p3, 102, 'Alarm response', '2026-03-04') ],
    [ 'v1', report(70010, $p3, 102, 'Vandalism', '2026-03-04') ],
    [ 'c1', report(70011, $courtesy, 102, 'After hours dispatch', '2026-03-05') ],
);
($rc, $err) = $t->drain;
is $rc, 0, 'the worker recorded the reports' or diag $err;
# a dispatch re-categorised as a theft: a credit line and a new charge
$t->enqueue([ 'a1u', report(70001, $p1, 101, 'Theft', '2026-03-01',
                            '2026-03-04T00:00:00Z') ]);
($rc, $err) = $t->drain;
is $rc, 0, 'and the update' or diag $err;
is $t->value("SELECT count(*) FROM billing_lines"), 13, '13 billing lines';

# a simple CSV reader (RFC 4180: quoted fields, doubled quotes, CRLF)
sub csv_rows {
    my ($text) = @_;
    my (@rows, @row);
    my ($f, $state) = ('', 'out');      # out, in (quotes), quote (seen " in)
    for my $c (split //, $text) {
        if ($state eq 'in') {
            if ($c eq '"') { $state = 'quote' } else { $f .= $c }
            next;
        }
        if ($state eq 'quote') {
            $state = 'out';
            if ($c eq '"') { $f .= '"'; $state = 'in'; next }
        }
        if ($c eq '"') { $state = 'in'; next }
        if ($c eq ',') { push @row, $f; $f = ''; next }
        next if $c eq "\r";
        if ($c eq "\n") { push @row, $f; push @rows, [ @row ]; @row = (); $f = ''; next }
        $f .= $c;
    }
    return @rows;
}

# the CSV as two tables (lines, totals), each a list of hashes
sub list_csv {
    my ($rc, $out, $err) = list('--format', 'csv', @_);
    die "billing list failed ($rc): $err" unless $rc == 0;
    my @rows = csv_rows($out);
    my (@tables, $head);
    for my $r (@rows) {
        if (@$r == 1 && $r->[0] eq '') { undef $head; next }
        if (!$head) { $head = $r; push @tables, []; next }
        my %h;
        @h{@$head} = @$r;
        push @{ $tables[-1] }, \%h;
    }
    return @tables;
}

subtest 'before the sync: every line pending, amounts and totals' => sub {
    my ($lines, $totals) = list_csv();
    is scalar(@$lines), 13, '13 lines';
    is scalar(grep { $_->{state} eq 'pending' } @$lines), 13, 'all pending';
    my $bad = 0;
    for my $l (@$lines) {
        my $price = { ADH => 95, GRD => 40, ALR => 60, NPR => 10 }->{ $l->{bill_code} };
        $bad++ unless $l->{unit_price} == $price
                   && $l->{amount} == $l->{quantity} * $price;
    }
    is $bad, 0, 'amount = quantity x price; ALR at the default price 60';
    my ($credit) = grep { $_->{kind} eq 'credit' } @$lines;
    ok $credit->{amount} == -95, 'the credit line is negative';
    is $credit->{report_id}, 70001, 'and names its report';

    # the same totals from the lines as stored, priced by the contract
    # above (ALR: the mapping's 60); clients and sites are TrackTik's
    # (the worker enriches the reports from the simulator)
    my %price = (ADH => 95, GRD => 40, ALR => 60, NPR => 10);
    my (%want, %n);
    for my $r ($t->rows("SELECT coalesce(client_id::text, '-'), bill_code,"
                        . " quantity FROM billing_lines")) {
        my ($c, $code, $q) = @$r;
        $want{"$c/$code"} += $q * $price{$code};
        $want{"$c/*"} += $q * $price{$code};
        $want{'all/*'} += $q * $price{$code};
        $n{"$c/$code"}++;
    }
    my %tot = map { (($_->{client_id} || ($_->{grand_total} eq 't' ? 'all' : '-'))
                     . '/' . ($_->{bill_code} || '*')) => $_ } @$totals;
    is_deeply [ sort keys %tot ], [ sort keys %want ],
        'a total per client and code, per client, and overall';
    my $bad_tot = 0;
    for my $k (sort keys %want) {
        next if $tot{$k}{amount} == $want{$k};
        $bad_tot++;
        diag "$k: $tot{$k}{amount}, want $want{$k}";
    }
    is $bad_tot, 0, 'every total = the sum of quantity x price';
    my $bad_n = grep { $tot{$_}{lines} != $n{$_} } keys %n;
    is $bad_n, 0, 'and counts its lines';
    ok $tot{'all/*'}{amount} == 4 * 95 - 95 + 3 * 2 * 40 + 2 * 1.5 * 60
                                + 10 + 95 + 95,
        'overall: 905 (8 dispatches less a credit, 3 thefts, 2 alarms, '
        . 'a vandalism)';
    is $tot{'all/*'}{lines}, 13, 'of 13 lines';
};

subtest 'the sync posts what it can; list by state' => sub {
    my ($rc, $out, $err) = worker_in('', 'billing', 'sync', '--once');
    like $out, qr/billing sync: 11 posted, 2 failed/, 'two lines fail' or diag $err;

    my ($failed) = list_csv('--state', 'failed');
    is_deeply [ sort map { $_->{report_id} } @$failed ], [ 70010, 70011 ],
        'the vandalism and the dispatch at the post without a contract';
    like $failed->[0]{last_error} . $failed->[1]{last_error},
        qr/bill code NPR: no TrackTik bill item has it as customId; map it with INSERT INTO tracktik_bill_items \(bill_code, bill_item_id, default_price\)/,
        'each says why (a field with commas, quoted in the CSV)';
    my ($posted) = list_csv('--state', 'posted');
    is scalar(@$posted), 11, '11 posted';
    is scalar(grep { $_->{external_id} =~ /^\d+$/ } @$posted), 11,
        'each with its TrackTik item id';
};

subtest 'filters' => sub {
    my ($client) = $t->value("SELECT client_id FROM billing_lines"
                             . " WHERE report_id = 70008");
    my ($l) = list_csv('--client', $client);
    is_deeply [ sort map { $_->{id} } @$l ],
        [ sort map { $_->[0] } $t->rows("SELECT id FROM billing_lines"
                                        . " WHERE client_id = $client") ],
        "--client $client: its lines";
    my $site = $t->value("SELECT site_id FROM billing_lines"
                         . " WHERE report_id = 70003");
    ($l) = list_csv('--site', $site);
    is_deeply [ sort map { $_->{id} } @$l ],
        [ sort map { $_->[0] } $t->rows("SELECT id FROM billing_lines"
                                        . " WHERE site_id = $site") ],
        "--site $site: its lines";
    ok scalar(@$l) < 13, '(not all of them)';
    ($l) = list_csv('--code', 'GRD');
    is scalar(@$l), 3, '--code GRD: 3 lines';
    ($l) = list_csv('--from', '2026-03-10', '--to', '2026-03-11');
    is_deeply [ sort map { $_->{report_id} } @$l ], [ 70003, 70005 ],
        '--from/--to: service dates 10 and 11 March';
    my (undef, $tot) = list_csv('--code', 'GRD');
    ok $tot->[-1]{amount} == 240, 'totals follow the filters: GRD 240';
    ($l) = list_csv('--client', '999999');
    is scalar(@$l), 0, 'a client without lines: none';
};

subtest 'a line in doubt' => sub {
    # a new dispatch; the sync process died right after recording its
    # attempt, before TrackTik's answer (what tt_sync_attempt() commits
    # before the POST)
    $t->enqueue([ 'd1', report(70020, $p1, 101, 'After hours dispatch',
                               '2026-03-06') ]);
    my ($rc, $err) = $t->drain;
    my $id = $t->value("SELECT id FROM billing_lines WHERE report_id = 70020");
    $t->rows("INSERT INTO tracktik_billing_attempts (line_id, attempts,"
             . " in_doubt) VALUES ($id, 1, true)");
    my ($l) = list_csv('--state', 'in_doubt');
    is_deeply [ map { $_->{id} } @$l ], [ $id ], '--state in_doubt: that line';
    ($l) = list_csv('--state', 'pending');
    is scalar(@$l), 0, 'not counted as plainly pending';
    my $out;
    ($rc, $out) = worker_in('', 'billing', 'sync', '--once');
    like $out, qr/1 posted/, 'the sync looks it up, then posts it';
    ($l) = list_csv('--state', 'in_doubt');
    is scalar(@$l), 0, 'no longer in doubt';
};

subtest 'retry' => sub {
    my $posted = $t->value("SELECT min(id) FROM billing_lines WHERE state = 'posted'");
    my ($rc, $out, $err) = worker_in('', 'billing', 'retry', $posted);
    is $rc, 1, 'a posted line: exit 1';
    like $err, qr/billing line $posted is posted, not failed/, 'says why';
    ($rc, $out, $err) = worker_in('', 'billing', 'retry', '99999999');
    like $err, qr/there is no billing line 99999999/, 'an unknown line';
    ($rc, $out, $err) = worker_in('', 'billing', 'retry', 'abc');
    is $rc, 2, 'not an id: exit 2';
    ($rc, $out, $err) = worker_in('', 'billing', 'retry');
    is $rc, 2, 'neither ID nor --failed: exit 2';
    is $t->value("SELECT count(*) FROM billing_lines WHERE state = 'failed'"),
        2, 'nothing changed';

    # the operator fixes both causes, then retries one, then the rest
    $t->rows("INSERT INTO tracktik_site_contracts VALUES ($post{$courtesy}[0], 300)");
    $t->rows("INSERT INTO tracktik_bill_items (bill_code, bill_item_id)"
             . " VALUES ('NPR', $bill_item{PAT})");
    my $one = $t->value("SELECT id FROM billing_lines WHERE report_id = 70011");
    ($rc, $out) = worker_in('', 'billing', 'retry', $one);
    is $rc, 0, 'retry ID: exit 0';
    like $out, qr/requeued billing line $one for billing sync/, 'says so';
    ($rc, $out) = worker_in('', 'billing', 'retry', '--failed');
    like $out, qr/requeued 1 failed billing lines/, '--failed: the other one';
    my ($l) = list_csv('--state', 'pending');
    is scalar(@$l), 2, 'both pending again';

    ($rc, $out, $err) = worker_in('', 'billing', 'sync', '--once');
    like $out, qr/billing sync: 2 posted, 0 failed/, 'the sync posts them'
        or diag $err;
    ($l) = list_csv('--state', 'failed');
    is scalar(@$l), 0, 'nothing failed any more';
    is $sim->state->{billingAdhocItems}{count}, 14, 'the simulator holds 14 items';
    is $sim->state->{billingAdhocItems}{duplicateDescriptions}, 0, 'none twice';
};

subtest 'table format and bad options' => sub {
    my ($rc, $out) = list('--code', 'GRD');
    is $rc, 0, 'exit 0';
    like $out, qr/^id\s+state\s+kind\s+service_date/, 'a header row';
    like $out, qr/\n\s*\d+  posted  charge  2026-03-01\s+\d+\s+\d+  GRD\s+2\s+40\s+80\s+70001\s/,
        'aligned columns: quantity 2 x 40 = 80';
    like $out, qr/totals .*\nclient_id  bill_code  grand_total  lines  quantity  amount  unpriced\n(.*\n)*\s+-  -\s+t\s+3\s+6\s+240\s+0\n/,
        'then the totals';
    for my $bad ([ '--state', 'lost' ], [ '--from', '2026-02-30' ],
                 [ '--client', 'x' ], [ '--format', 'xlsx' ]) {
        my ($rc, $out, $err) = list(@$bad);
        is $rc, 2, "@$bad: exit 2";
        like $err, qr/\Q$bad->[1]\E/, 'names the value';
    }
};

done_testing;
