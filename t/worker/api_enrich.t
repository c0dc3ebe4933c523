#!/usr/bin/perl
# tracktik-worker run with a TrackTik session: enrichment from the
# simulator.  A report's account is the site (the /accounts shape calls it
# type CLIENT, subType SITE); the ledger's client is the site's parent
# client, fetched once and cached, so 1,000 reports for one site cost one
# call for the site, one for its client and one for the post.  When
# TrackTik cannot answer, the job waits for a retry rather than being
# recorded without its client.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run qw(run);
use TTWorker;
use TTSim;

my $t = TTWorker->new('api_enrich');
my $sim = TTSim->new(repo => TTWorker::repo());
my $url = $sim->url;
$t->load_contracts;

my ($rc, $out, $err) = $sim->worker_login($t);
is $rc, 0, 'logged in to the simulator' or diag $err;

# the simulator's own rendering of a site and a single-site client, as a
# subscription with include=account delivers it
my $site = $sim->get('/rest/v1/accounts/102')->{data};
my $single = $sim->get('/rest/v1/accounts/114')->{data};
is "$site->{type}/$site->{subType}", 'CLIENT/SITE', 'site 102 looks like a CLIENT';
ok !exists $site->{parentClient}, 'and names no parent client';

sub report {
    my ($id, $account, $position) = @_;
    my $r = report_json(id => $id, account => $account);
    $r->{position} = $position;
    return $r;
}

sub calls {
    my ($route) = @_;
    return $sim->state->{requests}{"GET $route"} // 0;
}

subtest '1,000 reports for one site: a handful of API calls' => sub {
    $t->enqueue(map { [ "e-$_", report(70000 + $_, $site, 500) ] } 1 .. 1000);
    my ($rc, $log) = $t->drain('--batch-size', '200');
    is $rc, 0, 'drain exits 0' or diag $log;
    is $t->value("SELECT count(*) FROM incidents_ledger"
                 . " WHERE report_id > 70000 AND report_id <= 71000"), 1000,
        '1,000 ledger rows';
    is $t->value("SELECT count(DISTINCT client_id)::text || '/' ||"
                 . " min(client_id) FROM incidents_ledger"
                 . " WHERE report_id > 70000 AND report_id <= 71000"), '1/101',
        "every row's client is the site's parent client (101), not the site";
    is calls('/rest/v1/clients/{id}'), 2, 'two client calls: the site and its client';
    is calls('/rest/v1/positions/{id}'), 1, 'one call for the post';

    my @a = $t->rows("SELECT account_id, name, type, parent_client_id, time_zone"
                     . " FROM tracktik_accounts ORDER BY account_id");
    is_deeply \@a, [
        [ 101, 'Lakeshore Retail Group', 'MULTI_LOCATION_CLIENT', '',
          'America/Toronto' ],
        [ 102, 'Lakeshore Retail Group - Lakeshore Mall', 'SERVICE_LOCATION',
          101, 'America/Toronto' ] ], 'site and client names, parent, zone';
    is $t->value("SELECT name || ' ' || contract_id FROM tracktik_positions"
                 . " WHERE position_id = 500"), 'Loading Dock 300',
        'the post and its contract';

    # a second worker process starts with an empty memory: the tables
    # answer it
    $t->enqueue([ 'e-again', report(71001, $site, 500) ]);
    ($rc, $log) = $t->drain;
    is $rc, 0, 'another run exits 0';
    is calls('/rest/v1/clients/{id}') + calls('/rest/v1/positions/{id}'), 3,
        'no further call: the reference tables are the cache';
};

subtest 'a single-site client is its own client' => sub {
    $t->enqueue([ 's-1', report(72001, $single, 521) ]);
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'drain exits 0';
    is $t->value("SELECT client_id FROM incidents_ledger WHERE report_id = 72001"),
        114, 'client 114';
};

subtest 'TrackTik down: the job waits, nothing recorded without its client' => sub {
    my $other = $sim->get('/rest/v1/accounts/105')->{data};
    $sim->faults([ { kind => 'status', status => 500 } ]);
    $t->enqueue([ 'down-1', report(73001, $other, 503) ]);
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'drain exits 0 (the job waits for its retry)';
    like $log, qr/outcome=retry .*the client of site 105 is needed from TrackTik/,
        'the log says why';
    is $t->value("SELECT count(*) FROM incidents_ledger WHERE report_id = 73001"),
        0, 'no ledger row yet';
    is $t->value("SELECT state FROM tracktik_jobs WHERE dedupe_key = 'down-1'"),
        'queued', 'the job is queued for a retry';

    $sim->faults([]);
    $t->rows("UPDATE tracktik_jobs SET run_after = now() WHERE dedupe_key = 'down-1'");
    ($rc, $log) = $t->drain;
    is $rc, 0, 'drain exits 0';
    is $t->value("SELECT client_id FROM incidents_ledger WHERE report_id = 73001"),
        104, 'recorded with its client once TrackTik answers';
};

subtest 'a client named in the body is kept, without waiting for TrackTik' => sub {
    $sim->faults([ { kind => 'status', status => 500 } ]);
    my $acct = { id => 106, parentClient => 104, timeZone => 'America/Toronto' };
    $t->enqueue([ 'named-1', report(74001, $acct, 506) ]);
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'drain exits 0';
    is $t->value("SELECT client_id FROM incidents_ledger WHERE report_id = 74001"),
        104, 'recorded at once with the named client';
    $sim->faults([]);
};

done_testing;
