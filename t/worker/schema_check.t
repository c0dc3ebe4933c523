#!/usr/bin/perl
# tracktik-worker refuses a schema older than it needs: every command that
# uses the database (run, billing sync, jobs, users, contracts, auth)
# stops with an error saying to run `tracktik-worker migrate`, touching
# nothing (the two daemons with exit 3, for systemd's
# RestartPreventExitStatus); migrate and migrate status still run.  The schema's
# version is the highest migration recorded in tracktik_schema_migrations.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $repo = TTWorker::repo();

open my $fh, '<', "$repo/src/common/tt_version.h" or die $!;
my ($needed) = join('', <$fh>) =~ /#define\s+TT_SCHEMA_VERSION\s+(\d+)/;
close $fh;
my ($newest) = map { /(\d+)_[^\/]*\.sql$/ ? $1 + 0 : () }
               (sort glob("$repo/sql/migrations/*.sql"))[-1];

is $needed, $newest, "TT_SCHEMA_VERSION ($needed) is the newest migration's"
    . " number ($newest): bump it with every migration";

my $t = TTWorker->new('schema_check');
my $refusal = qr/^tracktik-worker: the database schema is at version (\d+), this tracktik-worker \(\S+\) needs version $needed: run `tracktik-worker migrate`/m;

# the commands that need the schema, with their arguments and exit code
my @commands = (
    [ 3, 'run', '--drain' ],
    [ 3, 'billing', 'sync', '--once', '--url', 'http://127.0.0.1:1' ],
    [ 1, 'jobs', 'list' ],
    [ 1, 'jobs', 'retry', '--dead' ],
    [ 1, 'contracts', 'list' ],
    [ 1, 'contracts', 'load', "$repo/conf/contracts.example.json" ],
    [ 1, 'users', 'list' ],
    [ 1, 'auth', 'status' ],
);

subtest 'a migrated database: the commands run' => sub {
    my ($rc, $out, $err) = $t->worker('jobs', 'list');
    is $rc, 0, 'jobs list: exit 0' or diag $err;
    unlike $err, qr/schema/, 'no complaint about the schema';
};

my ($last, $before) = $t->rows("SELECT filename, checksum"
                    . " FROM tracktik_schema_migrations"
                    . " ORDER BY filename DESC LIMIT 2");
my ($found) = $before->[0] =~ /^0*(\d+)_/;

subtest 'the newest migration not recorded: every command refuses' => sub {
    $t->enqueue([ 'waiting-1', TTWorker::report_json(id => 1) ]);
    $t->rows("DELETE FROM tracktik_schema_migrations WHERE filename = "
           . $t->quote($last->[0]));
    for my $cmd (@commands) {
        my ($want, @c) = @$cmd;
        my $c = \@c;
        my ($rc, $out, $err) = $t->worker(@c);
        is $rc, $want, "@c: exit $want";
        like $err, $refusal, "@$c: says to run migrate";
        my ($at) = $err =~ $refusal;
        is $at, $found, "@$c: names the version it found";
        unlike $err, qr/level=/, "@$c: refused before it started";
    }
    is $t->value("SELECT count(*) FROM tracktik_jobs WHERE state = 'queued'"
               . " AND attempts = 0"), 1, 'the queued job was not touched';
    is $t->value("SELECT count(*) FROM incidents_ledger"), 0, 'nothing recorded';
    is $t->value("SELECT count(*) FROM contract_rule_sets"), 0,
        'no rule set stored';

    my ($rc, $out, $err) = $t->worker('migrate', 'status');
    is $rc, 3, 'migrate status runs: exit 3 (one pending)';
    like $out, qr/pending\s+\Q$last->[0]\E/, 'and names the pending migration';
    ($rc, $out, $err) = $t->worker('contracts', 'check',
                                   "$repo/conf/contracts.example.json");
    is $rc, 0, 'contracts check needs no database: exit 0' or diag $err;
};

subtest 'recorded again: the commands run' => sub {
    $t->rows("INSERT INTO tracktik_schema_migrations (filename, checksum)"
           . " VALUES (" . $t->quote($last->[0]) . ", "
           . $t->quote($last->[1]) . ")");
    $t->load_contracts;
    my ($rc, $log) = $t->drain;
    is $rc, 0, 'run --drain: exit 0' or diag $log;
    is $t->value("SELECT count(*) FROM incidents_ledger"), 1, 'the job was recorded';
};

subtest 'an empty database: refused, then migrate, then it runs' => sub {
    my $db = TTWorker->new('schema_check_empty');
    $db->rows("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    my ($rc, $out, $err) = $db->worker('run', '--drain');
    is $rc, 3, 'run --drain: exit 3';
    like $err, $refusal, 'says to run migrate';
    like $err, qr/at version 0,/, 'version 0: nothing migrated';
    ($rc, $out, $err) = $db->worker('migrate');
    is $rc, 0, 'migrate runs on it: exit 0' or diag $err;
    ($rc, $out, $err) = $db->worker('run', '--drain');
    is $rc, 0, 'then run --drain: exit 0' or diag $err;
};

subtest 'a newer schema than this build knows is accepted' => sub {
    $t->rows("INSERT INTO tracktik_schema_migrations (filename, checksum)"
           . " VALUES ('999_from_a_newer_release.sql', 'x')");
    my ($rc, $out, $err) = $t->worker('jobs', 'list');
    is $rc, 0, 'jobs list: exit 0' or diag $err;
    $t->rows("DELETE FROM tracktik_schema_migrations"
           . " WHERE filename = '999_from_a_newer_release.sql'");
};

done_testing;
