# A correctly signed delivery whose body PostgreSQL's jsonb refuses (a
# \u0000 escape, a lone UTF-16 surrogate escape, bytes that are not UTF-8
# inside a string) is kept as bytes in tracktik_dead_letters: 202
# {"status":"stored","dead_letter":N} after the commit, a [warn] line with
# the dedupe key and never the body, a redelivery is a duplicate, and the
# operator's tracktik_dead_letter_replay() queues a repaired payload that
# the worker processes.  A wrong signature still gets 401 and stores
# nothing; malformed JSON still gets 400.
#
# nginx connects as a login role of tracktik_ingest_role's, so the grants
# of sql/functions/ingest.sql are what the deliveries run with.

use strict;
use warnings;

use lib 't/helper';
use lib 't/worker/lib';
use File::Temp ();
use POSIX ();
use Test::More;
use TrackTikTest;
use TTWorker;

my $role = 'tt_dead_letter_test';

# a database of this test's; then the role, as the cluster's superuser
# (the tracktik role may not create roles), and the grants beside the
# functions given to it by migrating again
my $t = TTWorker->new('deadletter');
$t->load_contracts;

$t->_admin("DO \$\$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles
                          WHERE rolname = 'tracktik_ingest_role')
          THEN CREATE ROLE tracktik_ingest_role NOLOGIN; END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role')
          THEN CREATE ROLE $role LOGIN IN ROLE tracktik_ingest_role; END IF;
        END \$\$") or BAIL_OUT("cannot create the role $role");

my ($rc, $out, $err) = $t->worker('migrate');
is $rc, 0, 'migrated again, granting tracktik_ingest_role' or diag $err;

(my $dsn = $t->dsn) =~ s/\buser=\S+/user=$role/;

my $secret = "dead-letter-secret-$$";
my $tmp = File::Temp->newdir('tt-dl-XXXXXX', TMPDIR => 1);
my $secret_file = $tmp->dirname . '/webhook.secret';
tt_write_file($secret_file, "$secret\n");

my $ngx = TrackTikTest::Nginx->start(
    http => <<"HTTP",
    tracktik_postgres "$dsn" pool=2;
    log_format dl '\$status \$tracktik_webhook_result '
                  'job=\$tracktik_job_id';
HTTP
    server => <<"SERVER",
        location = /webhooks/tracktik {
            tracktik_webhook;
            tracktik_webhook_secret_file $secret_file;
            access_log logs/dl.log dl;
        }
SERVER
);

sub deliver {
    my ($body, $key) = @_;
    my ($status, undef, $content) = tt_post($ngx->url('/webhooks/tracktik'),
        $body, {
            'Content-Type' => 'application/json',
            'TrackTik-Subscription-Secret' =>
                tt_hmac_hex('sha512', $key // $secret, $body),
        });
    return ($status, $content);
}

sub count { $t->value($_[0]) }

sub access_log {
    open my $fh, '<', $ngx->prefix . '/logs/dl.log' or return '';
    local $/;
    return scalar <$fh> // '';
}

# a report entity whose comment is $raw, spliced into the JSON text as it
# is (an escape or raw bytes), with a marker that must never reach a log
my $report_id = 7_000_000 + $$ % 100_000 * 10;

sub body_with {
    my ($n, $raw) = @_;
    my $marker = "dl-marker-$$-$n";
    my $json = json_encode(report_json(id => $report_id + $n,
                                       comment => "$marker PLACE"));
    utf8::encode($json);
    $json =~ s/PLACE/$raw/ or die 'no place';
    return ($json, $marker);
}

my %kinds = (
    'a \u0000 escape'               => '\u0000 and after',
    'a lone surrogate escape'       => 'before \ud800 after',
    'invalid UTF-8 inside a string' => "caf\xe9 cr\xe8me",
);

my $n = 0;
my %stored;

for my $kind (sort keys %kinds) {
    $n++;
    my ($body, $marker) = body_with($n, $kinds{$kind});
    my $letters = count("SELECT count(*) FROM tracktik_dead_letters");

    my ($status, $content) = deliver($body);
    is $status, 202, "$kind: 202";
    like $content, qr/^\{"status":"stored","dead_letter":(\d+)\}\n\z/,
        "$kind: the answer names the dead letter";
    my ($id) = $content =~ /"dead_letter":(\d+)/;
    next unless defined $id;
    $stored{$kind} = { id => $id, body => $body, n => $n };

    is count("SELECT count(*) FROM tracktik_dead_letters"), $letters + 1,
        "$kind: one dead letter row";
    is count("SELECT encode(body, 'hex') FROM tracktik_dead_letters"
             . " WHERE id = $id"), unpack('H*', $body),
        "$kind: holding the exact bytes";
    like count("SELECT error FROM tracktik_dead_letters WHERE id = $id"),
        qr/Unicode|UTF8/, "$kind: and PostgreSQL's error message";
    is count("SELECT count(*) FROM tracktik_jobs"), 0,
        "$kind: no job was queued";
    is count("SELECT count(*) FROM tracktik_deliveries WHERE dedupe_key = "
             . "(SELECT dedupe_key FROM tracktik_dead_letters"
             . "  WHERE id = $id)"), 1,
        "$kind: the key is a known delivery";

    my $key = count("SELECT dedupe_key FROM tracktik_dead_letters"
                    . " WHERE id = $id");
    like $ngx->error_log,
        qr/\[warn\].*stored as dead letter $id, key "\Q$key\E"/,
        "$kind: a [warn] line with the dedupe key";
    unlike $ngx->error_log, qr/\Q$marker\E/, "$kind: never the body";

    ($status, $content) = deliver($body);
    is $status, 200, "$kind: a redelivery is a duplicate";
    like $content, qr/"status":"duplicate"/, "$kind: said so";
    is count("SELECT count(*) FROM tracktik_dead_letters"), $letters + 1,
        "$kind: and stores nothing new";
}

like access_log(), qr/^202 stored job=-?$/m,
    '$tracktik_webhook_result is "stored", $tracktik_job_id empty';

# an invalid UTF-8 byte in a key, too
{
    my $body = '{"id": ' . ($report_id + 9) . ", \"k\xff\": 1}";
    my ($status, $content) = deliver($body);
    is $status, 202, 'invalid UTF-8 in a key: 202';
    like $content, qr/"status":"stored"/, 'stored as a dead letter';
}

# what is still refused as before: not signed, not JSON
{
    my ($body) = body_with(20, "caf\xe9");
    my $letters = count("SELECT count(*) FROM tracktik_dead_letters");
    my $deliveries = count("SELECT count(*) FROM tracktik_deliveries");

    my ($status) = deliver($body, "wrong-$secret");
    is $status, 401, 'a wrong signature: 401';
    is count("SELECT count(*) FROM tracktik_dead_letters"), $letters,
        'no dead letter';
    is count("SELECT count(*) FROM tracktik_deliveries"), $deliveries,
        'no delivery recorded';

    ($status) = tt_post($ngx->url('/webhooks/tracktik'), $body,
                        { 'Content-Type' => 'application/json' });
    is $status, 401, 'no signature: 401';

    for my $bad ("{\"id\": 1, \"k\": \"caf\xe9\"", "{\"id\": 1}\xff",
                 "{\"id\": 1, \"k\": \xff}")
    {
        my ($status, $content) = deliver($bad);
        is $status, 400, 'malformed JSON around the bytes: still 400';
        like $content, qr/"status":"rejected"/, 'rejected';
    }
    is count("SELECT count(*) FROM tracktik_dead_letters"), $letters,
        'and nothing stored';
}

# an ordinary delivery runs as the ingest role as before
{
    my ($body) = body_with(30, 'plain');
    my ($status, $content) = deliver($body);
    is $status, 202, 'an ordinary delivery as tracktik_ingest_role: 202';
    like $content, qr/"status":"queued","job":\d+/, 'queued';
    $t->rows("DELETE FROM tracktik_jobs");
}

# the operator repairs a dead letter and replays it: a job the worker
# processes into the ledger
{
    my $s = $stored{'a \u0000 escape'};
    my $id = $s->{id};
    my $job = count("SELECT tracktik_dead_letter_replay(id,"
                    . " replace(convert_from(body, 'UTF8'), '\\u0000', '')"
                    . "::jsonb) FROM tracktik_dead_letters WHERE id = $id");
    like $job, qr/^\d+$/, 'replay returns the job id';
    is count("SELECT replayed_job_id FROM tracktik_dead_letters"
             . " WHERE id = $id"), $job, 'the dead letter names its job';
    like $t->sql_error("SELECT tracktik_dead_letter_replay($id, '{}')"),
        qr/was replayed as job $job/, 'a dead letter is replayed once';

    my ($rc, $log) = $t->drain;
    is $rc, 0, 'the worker drains the replayed job' or diag $log;
    my $report = $report_id + $s->{n};
    is count("SELECT count(*) FROM incidents_ledger"
             . " WHERE report_id = $report"), 1,
        'the repaired report is in the ledger';
    is count("SELECT count(*) FROM tracktik_jobs"), 0, 'the job is done';

    my $s2 = $stored{'invalid UTF-8 inside a string'};
    $job = count("SELECT tracktik_dead_letter_replay(id,"
                 . " convert_from(body, 'LATIN1')::jsonb)"
                 . " FROM tracktik_dead_letters WHERE id = $s2->{id}");
    ($rc, $log) = $t->drain;
    is $rc, 0, 'a Latin-1 body read as Latin-1 is replayed too'
        or diag $log;
    is count("SELECT raw->>'comment' FROM incidents_ledger"
             . " WHERE report_id = " . ($report_id + $s2->{n})),
        "dl-marker-$$-$s2->{n} caf\xc3\xa9 cr\xc3\xa8me",
        'with its text';

    like $t->sql_error("SELECT tracktik_dead_letter_replay(0, '{}')"),
        qr/no dead letter 0/, 'an unknown id is an error';
    like $t->sql_error("SELECT tracktik_dead_letter_replay("
                       . "$stored{'a lone surrogate escape'}{id}, '[1]')"),
        qr/must be a JSON object/, 'so is a payload that is no object';
}

unlike $ngx->error_log, qr/\[(?:error|alert|crit|emerg)\]/,
    'nginx logged no error';

# What the module's check lets through and PostgreSQL still refuses (a
# data error, SQLSTATE class 22) takes the same way: its group is split,
# the others are queued, and it goes to tracktik_dead_letter_store().
# Stand-in for such a body: a trigger refusing marked payloads inside
# tracktik_ingest() only; the store function then finds that jsonb takes
# the body and queues it: 202 "queued".
{
    $t->rows(<<'SQL');
CREATE FUNCTION tt_refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload->>'comment' LIKE 'refuse-me%'
       AND current_query() LIKE '%tracktik_ingest(%' THEN
        RAISE EXCEPTION 'refused for the test'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'body: ' || NEW.payload::text;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tt_refuse_marked BEFORE INSERT ON tracktik_jobs
    FOR EACH ROW EXECUTE FUNCTION tt_refuse_marked();
SQL
    my $jobs = count("SELECT count(*) FROM tracktik_jobs");
    my @bodies = map { json_encode(report_json(id => $report_id + 40 + $_,
                           comment => ($_ == 3 ? 'refuse-me' : 'fine'))) }
                 1 .. 6;

    # together, so that they may share a group
    for my $i (0 .. $#bodies) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($status, $content) = deliver($bodies[$i]);
            # no END blocks nor destructors in the child (they would drop
            # the database and stop nginx)
            POSIX::_exit($status == 202 && $content =~ /"status":"queued"/
                         ? 0 : 1);
        }
    }
    my $ok = 0;
    while ((my $pid = wait) > 0) {
        $ok++ if $? == 0;
    }
    is $ok, 6, 'all six deliveries: 202 queued';
    is count("SELECT count(*) FROM tracktik_jobs"), $jobs + 6,
        'six jobs, the refused one among them';
    is count("SELECT count(*) FROM tracktik_jobs"
             . " WHERE payload->>'comment' = 'refuse-me'"), 1,
        'queued by tracktik_dead_letter_store()';
    like $ngx->error_log, qr/refused for the test \(SQLSTATE 22023\)/,
        'after PostgreSQL refused it in tracktik_ingest()';
    unlike $ngx->error_log, qr/body: \{|refuse-me/,
        'the error log never quotes the body (no DETAIL or CONTEXT lines)';

    $t->rows("DROP TRIGGER tt_refuse_marked ON tracktik_jobs;"
             . " DROP FUNCTION tt_refuse_marked()");
}

$ngx->stop;
done_testing();
