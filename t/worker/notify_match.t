#!/usr/bin/perl
# Notification rules matched end to end: jobs as the webhook queues them,
# `run --drain`, and the outbox rows the ledger's insert trigger wrote.
# One rule per dimension (client, site, report template by name and id,
# category by name and id, severity at or above a level, one severity,
# status, and a time window across midnight on Fridays in the site's
# zone); each report says which rules it must have fired.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;
use TTNotify;

my $t = TTWorker->new('notify_match');
my $n = TTNotify->new($t);

my @rules = (
        { id => 'client-3',    match => { client => [3] } },
        { id => 'site-56',     match => { site => [56] } },
        { id => 'tmpl-patrol', match => { report_template => 'patrol' } },
        { id => 'tmpl-77',     match => { report_template => [77] } },
        { id => 'cat-alarm',   match => { category => 'Alarm response' } },
        { id => 'cat-12',      match => { category => [12] } },
        { id => 'high-up',     match => { client => [5] },
          min_severity => 'HIGH' },
        { id => 'low-only',    match => { client => [5], severity => 'LOW' } },
        { id => 'pending',     match => { client => [6],
                                          status => ['PENDING'] } },
        { id => 'friday-night',
          match => { client => [7],
                     time_of_day => { from => '22:00', to => '06:00' },
                     weekdays => ['fri'] } },
);
$_->{notify} = ['ops'] for @rules;
$n->load({ recipients => { ops => { email => 'ops@guards.example' } },
           rules => \@rules });

sub account {
    my ($client, $site, $zone) = @_;
    return { id => $site, name => "Site $site", parentClient => $client,
             timeZone => $zone || 'America/New_York' };
}

# [report id, expected rules, report_json options, template override]
my @cases = (
    [ 1,  'client-3', 'the client' ],
    [ 2,  'site-56', 'the site', account => account(4, 56) ],
    [ 3,  'tmpl-patrol', 'the template by name, any case',
          account => account(4, 60), template => { id => 5, name => 'PATROL' } ],
    [ 4,  'tmpl-77', 'the template by id',
          account => account(4, 60), template => { id => 77, name => 'X' } ],
    [ 5,  'cat-alarm', 'the category by name, any case',
          account => account(4, 60), category => 'alarm RESPONSE', flag_id => 11 ],
    [ 6,  'cat-12', 'the category by id',
          account => account(4, 60), category => 'Other', flag_id => 12 ],
    [ 7,  'high-up', 'SEVERE is at or above HIGH',
          account => account(5, 60), severity => 'SEVERE' ],
    [ 8,  'high-up', 'HIGH is at or above HIGH',
          account => account(5, 60), severity => 'HIGH' ],
    [ 9,  '', 'MODERATE is below HIGH',
          account => account(5, 60), severity => 'MODERATE' ],
    [ 10, 'low-only', 'exactly LOW',
          account => account(5, 60), severity => 'LOW' ],
    [ 11, 'pending', 'a status the rule names',
          account => account(6, 60), status => 'PENDING' ],
    [ 12, '', 'without a status, only APPROVED reports',
          status => 'PENDING' ],
    [ 13, '', 'APPROVED is not PENDING', account => account(6, 60) ],
    [ 14, 'friday-night', 'Friday 23:30 in Toronto',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-07T04:30:00Z' ],
    [ 15, 'friday-night', 'Saturday 05:00 in Toronto: still Friday night',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-07T10:00:00Z' ],
    [ 16, '', 'Saturday 23:00 in Toronto: Saturday night',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-08T04:00:00Z' ],
    [ 17, '', 'Friday 21:59 in Toronto: before the window',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-07T02:59:00Z' ],
    [ 18, '', 'Saturday 06:00 in Toronto: the window has ended',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-07T11:00:00Z' ],
    [ 19, 'friday-night', 'Friday 23:30 UTC at a site in UTC',
          account => account(7, 60, 'UTC'),
          reportDateTime => '2026-03-06T23:30:00Z' ],
    [ 20, '', 'the same instant at a site in Toronto is 18:30',
          account => account(7, 60, 'America/Toronto'),
          reportDateTime => '2026-03-06T23:30:00Z' ],
);

my @jobs;
for my $c (@cases) {
    my ($id, $want, $name, %o) = @$c;
    my $template = delete $o{template};
    my $r = report_json(id => $id, %o);
    $r->{reportTemplate} = $template if $template;
    push @jobs, [ "m-$id", $r ];
}
$t->enqueue(@jobs);
my ($rc, $log) = $t->drain;
is $rc, 0, 'the worker drains the jobs' or diag $log;
is $t->value("SELECT count(*) FROM incidents_ledger"), scalar @cases,
    'every report is in the ledger';

for my $c (@cases) {
    my ($id, $want, $name) = @$c;
    is $t->value("SELECT string_agg(rule_key, ',' ORDER BY rule_key)"
               . " FROM notifications WHERE report_id = $id") // '',
        $want, "report $id: $name";
}

is $t->value("SELECT count(DISTINCT announce) || ' ' || min(announce)"
           . " || ' ' || min(state) FROM notifications"),
    '1 new pending', 'each announced as new, waiting to be sent';

subtest 'portal users by role: only those who may see the incident' => sub {
    $t->rows("INSERT INTO portal_users (email, password_hash, role, client_id,"
           . " site_ids) VALUES"
           . " ('all-of-3\@client3.example', 'x', 'client', 3, NULL),"
           . " ('site-56\@client3.example', 'x', 'client', 3, '{56}'),"
           . " ('of-4\@client4.example', 'x', 'client', 4, NULL),"
           . " ('odd,address\@client3.example', 'x', 'client', 3, NULL),"
           . " ('ops\@guards.example', 'x', 'operator', NULL, NULL)");
    $t->rows("UPDATE portal_users SET disabled = true"
           . " WHERE email = 'ops\@guards.example'");
    $n->load({ recipients => { users => { portal_role => 'client' },
                               staff => { portal_role => 'operator' } },
               rules => [ { id => 'users', notify => ['users', 'staff'] } ] });
    $t->enqueue([ 'u-1', report_json(id => 501) ],
                [ 'u-2', report_json(id => 502,
                                     account => account(3, 56)) ]);
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'recorded, although one address cannot be mailed' or diag $log;
    my $who = sub {
        $t->value("SELECT string_agg(r.address, ',' ORDER BY r.address)"
                . " FROM notifications n JOIN notify_recipients r"
                . " ON r.id = n.recipient_id WHERE n.report_id = $_[0]") // '';
    };
    is $who->(501), 'all-of-3@client3.example',
        'site 55: the client 3 user of every site; not the site 56 user, '
      . 'not client 4, not the disabled operator';
    is $who->(502), 'all-of-3@client3.example,site-56@client3.example',
        'site 56: and the site 56 user';
};

done_testing;
