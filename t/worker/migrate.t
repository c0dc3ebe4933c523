#!/usr/bin/perl
# tracktik-worker migrate: sql/migrations/ once each with a checksum,
# sql/functions/ on every run, an advisory lock, `migrate status`, the
# upgrade of databases of the old sql/NNN_*.sql layout; and
# tracktik_ingest(), the webhook group commit as a function.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp;
use IPC::Run qw(start finish timeout);
use TTWorker;

my $repo = TTWorker::repo();
my @migrations = map { s{.*/}{}r } sort glob("$repo/sql/migrations/*.sql");
my $pg_dump = ($ENV{PG_BIN} || '/usr/lib/postgresql/15/bin') . '/pg_dump';

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# a database with nothing in it (TTWorker->new migrates)
sub empty_db {
    my ($name) = @_;
    my $db = TTWorker->new($name);
    $db->rows("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    return $db;
}

# a copy of sql/ to edit: returns its path
sub sql_copy {
    my ($t, $name) = @_;
    my $dir = "$t->{dir}/$name";
    for my $sub (qw(migrations functions)) {
        make_path("$dir/$sub");
        copy($_, "$dir/$sub/") or die "$_: $!"
            for glob("$repo/sql/$sub/*.sql");
    }
    return $dir;
}

sub edit {
    my ($path, $from, $to) = @_;
    my $text = slurp($path);
    $text =~ s/\Q$from\E/$to/ or die "$path: no '$from'";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}

sub schema_dump {
    my ($db) = @_;
    my $out = '';
    IPC::Run::run([ $pg_dump, '-s', '-h', $db->{host}, '-p', $db->{port},
                    '-U', $db->{user}, '-d', $db->{db} ], \undef, \$out)
        or die "pg_dump failed";
    return join "\n", grep { !/^\\(un)?restrict / } split /\n/, $out;
}

sub diag_diff {
    my ($got, $want) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my %f = (got => $got, want => $want);
    for (keys %f) {
        open my $fh, '>', "$dir/$_" or die;
        print $fh $f{$_};
        close $fh;
    }
    diag `diff -u $dir/want $dir/got | head -60`;
}

my $t = TTWorker->new('migrate');

subtest 'a fresh database: every migration once, then nothing to do' => sub {
    ok @migrations >= 8, scalar(@migrations) . ' migrations';
    my ($rc, $out) = $t->worker('migrate');
    is $rc, 0, 'exit 0';
    like $out, qr/^schema up to date \(\d+ migrations\)$/m,
        'nothing to do the second time';
    like $out, qr/^functions: \d+ files applied$/m, 'the functions again';
    is $t->value("SELECT count(*) FROM tracktik_schema_migrations"),
        scalar(@migrations), 'every file recorded';
    is $t->value("SELECT checksum FROM tracktik_schema_migrations"
               . " WHERE filename = '001_jobs.sql'"),
        sha256_hex(slurp("$repo/sql/migrations/001_jobs.sql")),
        'with the SHA-256 of the file';

    ($rc, $out) = $t->worker('migrate', 'status');
    is $rc, 0, 'status: exit 0 when all applied';
    is scalar(() = $out =~ /^applied   \d{3}_\w+\.sql$/mg),
        scalar(@migrations), 'one "applied" line per migration';

    my $empty = empty_db('status');
    ($rc, $out) = $empty->worker('migrate', 'status');
    is $rc, 3, 'status on an empty database: exit 3';
    like $out, qr/^pending   001_jobs\.sql$/m, 'lists what is pending';
    ($rc, undef, my $err) = $empty->worker('migrate', 'status', 'extra');
    is $rc, 2, 'status takes no argument';
};

subtest 'a broken migration applies nothing and says where' => sub {
    my $db = empty_db('broken');
    make_path("$db->{dir}/sql/migrations", "$db->{dir}/sql/functions");
    $db->file('sql/migrations/001_ok.sql', "CREATE TABLE test_one (a int);\n");
    $db->file('sql/migrations/002_bad.sql',
              "CREATE TABLE test_two (a int);\nSELEC 1;\n");
    my ($rc, $out, $err) = $db->worker('migrate', '--sql-dir',
                                       "$db->{dir}/sql");
    is $rc, 1, 'a failing file: exit 1';
    like $err, qr/migration failed, nothing of it applied: 002_bad\.sql: syntax error/,
        'names the file and the error';
    is $db->value("SELECT to_regclass('test_one') IS NOT NULL AND"
                . " to_regclass('test_two') IS NULL"), 't',
        'the good file applied, the bad one not at all';

    ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', "$db->{dir}/none");
    is $rc, 1, 'no such directory: exit 1';
    like $err, qr{cannot read \S+/none/migrations: No such file}, 'says so';
};

subtest 'an edited applied migration is refused, by name' => sub {
    my $db = empty_db('edited');
    my $sql = sql_copy($db, 'sql');
    my ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 0, 'migrated from the copy' or diag $err;

    edit("$sql/migrations/003_contract_rules_billing.sql",
         "CREATE INDEX billing_lines_report",
         "-- an afterthought\nCREATE INDEX billing_lines_report");
    $db->file('sql/migrations/900_new.sql', "CREATE TABLE test_new (a int);\n");

    ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 1, 'exit 1';
    like $err, qr/applied migrations were edited since: 003_contract_rules_billing\.sql/,
        'names the edited file';
    is $db->value("SELECT to_regclass('test_new') IS NULL"), 't',
        'nothing else applied';

    ($rc, $out) = $db->worker('migrate', 'status', '--sql-dir', $sql);
    is $rc, 3, 'status: exit 3';
    like $out, qr/^modified  003_contract_rules_billing\.sql$/m, 'modified';
    like $out, qr/^pending   900_new\.sql$/m, 'pending';
    like $out, qr/^applied   001_jobs\.sql$/m, 'applied';

    # a migration this directory lacks: a newer release migrated it
    unlink "$sql/migrations/900_new.sql";
    copy("$repo/sql/migrations/003_contract_rules_billing.sql",
         "$sql/migrations/") or die;
    unlink "$sql/migrations/008_report_photos.sql";
    ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 1, 'an unknown applied migration: exit 1';
    like $err, qr/migrations the SQL directory lacks: 008_report_photos\.sql/,
        'names it';
};

subtest 'functions are applied by every migrate, all or none' => sub {
    my $db = empty_db('functions');
    my $sql = sql_copy($db, 'sql');
    my ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 0, 'migrated' or diag $err;
    is $db->value("SELECT portal_site_name('{}', 7)"), 'Site 7', 'as shipped';

    edit("$sql/functions/portal.sql", q{'Site ' || p_site_id::text},
         q{'Place ' || p_site_id::text});
    ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 0, 'migrate again' or diag $err;
    like $out, qr/schema up to date/, 'no migration to apply';
    is $db->value("SELECT portal_site_name('{}', 7)"), 'Place 7',
        'the edited definition is live';

    edit("$sql/functions/portal.sql", q{'Place ' || p_site_id::text},
         q{'Spot ' || p_site_id::text});
    edit("$sql/functions/users.sql", 'RETURNS void', 'RETURNS voidd');
    ($rc, $out, $err) = $db->worker('migrate', '--sql-dir', $sql);
    is $rc, 1, 'a broken function file: exit 1';
    like $err, qr/functions failed, none applied: users\.sql: .*voidd/,
        'names the file';
    is $db->value("SELECT portal_site_name('{}', 7)"), 'Place 7',
        'and no other function changed';
};

subtest 'two migrates at once: one waits, each migration applies once' => sub {
    my $db = empty_db('concurrent');
    my $sql = sql_copy($db, 'sql');
    $db->file('sql/migrations/900_slow.sql', "SELECT pg_sleep(2);\n");
    my @runs;
    for (1 .. 2) {
        my %r = (out => '', err => '');
        $r{h} = start([ TTWorker::binary(), 'migrate', '--sql-dir', $sql,
                        '--dsn', $db->dsn ], \undef, \$r{out}, \$r{err},
                      timeout(120));
        push @runs, \%r;
    }
    for my $r (@runs) {
        finish($r->{h});
        $r->{rc} = $? >> 8;
    }
    is_deeply [ map { $_->{rc} } @runs ], [ 0, 0 ], 'both exit 0'
        or diag join "\n", map { $_->{err} } @runs;
    my @applied = grep { $_->{out} =~ /^900_slow\.sql: applied$/m } @runs;
    my @waited = grep { $_->{out} =~ /another migrate is running/ } @runs;
    is scalar(@applied), 1, 'one of them applied the migrations';
    is scalar(@waited), 1, 'the other waited for it';
    like $waited[0]{out}, qr/^schema up to date/m, 'then found nothing to do'
        if @waited;
    is $db->value("SELECT count(*) FROM tracktik_schema_migrations"),
        @migrations + 1, 'each recorded once';
};

# the old layout, from git: sql/*.sql at 40f24b6
my @old = qw(001_jobs 002_incidents_ledger 003_contract_rules_billing
             004_worker_record 005_worker_record_batch 006_tracktik_api
             007_tracktik_reference 008_report_photos 020_portal
             021_portal_pages_logins);
my %old_text;
for my $f (@old) {
    my $text = '';
    IPC::Run::run([ 'git', '-C', $repo, 'show', "40f24b6:sql/$f.sql" ],
                  \undef, \$text, \my $e) or last;
    $old_text{$f} = $text;
}

sub old_db {
    my ($name, @files) = @_;
    my $db = empty_db($name);
    $db->rows($old_text{$_}) for @files;
    return $db;
}

SKIP: {
    skip 'the old sql/ layout is not in git here', 1
        unless keys %old_text == @old;

    subtest 'databases of the old layout: upgraded in place, or refused' => sub {
        my $record = "CREATE TABLE tracktik_schema_migrations (filename"
                   . " text PRIMARY KEY, applied_at timestamptz NOT NULL"
                   . " DEFAULT now());";

        my $db = old_db('old', @old);
        $db->rows($record . join '', map {
            "INSERT INTO tracktik_schema_migrations VALUES ('$_.sql');"
        } @old);
        my ($rc, $out, $err) = $db->worker('migrate', 'status');
        is $rc, 3, 'status: exit 3';
        like $out, qr/old layout/, 'says it is the old layout';
        ($rc, $out, $err) = $db->worker('migrate');
        is $rc, 0, 'migrate upgrades it' or diag $err;
        like $out, qr/^001_jobs\.sql: already applied \(old layout\)$/m,
            'recording the new migrations';
        ($rc, $out) = $db->worker('migrate', 'status');
        is $rc, 0, 'then everything is applied';
        my $fresh = empty_db('old_fresh');
        ($rc, $out, $err) = $fresh->worker('migrate');
        is $rc, 0, 'a fresh database to compare with' or diag $err;
        my ($got, $want) = (schema_dump($db), schema_dump($fresh));
        ok $got eq $want, 'the schema is that of a fresh one, exactly'
            or diag_diff($got, $want);

        my $part = old_db('old_part', @old[0 .. 8]);
        $part->rows($record . join '', map {
            "INSERT INTO tracktik_schema_migrations VALUES ('$_.sql');"
        } @old[0 .. 8]);
        ($rc, $out, $err) = $part->worker('migrate');
        is $rc, 1, 'only some old files recorded: exit 1';
        like $err, qr/old sql\/NNN_\*\.sql layout but lacks 021_portal_pages_logins\.sql/,
            'names the missing file';

        my $psql = old_db('old_psql', @old);
        ($rc, $out, $err) = $psql->worker('migrate');
        is $rc, 1, 'built with psql and nothing recorded: exit 1';
        like $err, qr/tracktik tables but no tracktik_schema_migrations/,
            'says why';
        is $psql->value("SELECT to_regclass('tracktik_schema_migrations')"
                      . " IS NULL"), 't', 'and leaves it as it was';
    };
}

subtest 'tracktik_ingest(): the webhook group commit' => sub {
    my @r = $t->rows("SELECT n, job_id FROM tracktik_ingest("
        . "ARRAY['k2', 'k1', 'k3'],"
        . " ARRAY['{\"a\": 2}', '{\"a\": 1}', '{\"a\": 3}'])");
    is_deeply [ map { $_->[0] } @r ], [ 1, 2, 3 ], 'one row per input, by n';
    ok !(grep { $_->[1] eq '' } @r), 'three new jobs';
    ok $r[0][1] < $r[1][1] && $r[1][1] < $r[2][1], 'queued in input order';
    is $t->value("SELECT payload->>'a' FROM tracktik_jobs WHERE id = $r[1][1]"),
        1, 'the payload stored as jsonb';

    my @again = $t->rows("SELECT n, job_id FROM tracktik_ingest("
        . "ARRAY['k1', 'k4'], ARRAY['{}', '{}'])");
    is $again[0][1], '', 'a key seen before: NULL (a redelivery)';
    like $again[1][1], qr/^\d+$/, 'a new key: its job';
    is $t->value("SELECT count(*) FROM tracktik_deliveries"), 4,
        'each key remembered once';

    my @twice = $t->rows("SELECT job_id FROM tracktik_ingest("
        . "ARRAY['k5', 'k5'], ARRAY['{}', '{}'])");
    is $twice[0][0], $twice[1][0], 'a key twice in one group: one job';

    is $t->value("CREATE TEMP TABLE r (state text);"
        . " DO \$\$ BEGIN"
        . "   PERFORM tracktik_ingest(ARRAY['k6', 'k7'],"
        . "                           ARRAY['{}', 'not json']);"
        . "   INSERT INTO r VALUES ('no error');"
        . " EXCEPTION WHEN others THEN INSERT INTO r VALUES (SQLSTATE);"
        . " END \$\$; SELECT state FROM r"), '22P02',
        'a payload that is not JSON raises a data exception (class 22)';
    is $t->value("SELECT count(*) FROM tracktik_deliveries"
               . " WHERE dedupe_key IN ('k6', 'k7')"), 0,
        'and nothing of its group is queued';

    like $t->sql_error("SELECT * FROM tracktik_ingest(ARRAY['k8'],"
                     . " ARRAY['{}', '{}'])"),
        qr/1 dedupe keys for 2 payloads/, 'keys and payloads must pair up';
};

done_testing;
