#!/usr/bin/perl
# tracktik-worker notify rules check/load: the example file, and bad rule
# files and recipient addresses refused with an error naming the rule or
# recipient and the field, storing nothing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $t = TTWorker->new('notify_rules');
my $example = TTWorker::repo() . '/conf/notify.example.json';
my $secret = $t->file('good.secret',
                      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=\n");

sub doc {
    my (%o) = @_;
    my $d = {
        recipients => { ops => { email => 'ops@client3.example' },
                        %{ $o{recipients} || {} } },
        rules => $o{rules} || [ { id => 'r1', notify => ['ops'],
                                  %{ $o{rule} || {} } } ],
    };
    return TTWorker::json_encode($d);
}

sub rules_count {
    $t->value("SELECT count(*) FROM notify_rule_sets");
}

subtest 'the example file is valid and loads' => sub {
    my ($rc, $out, $err) = $t->worker('notify', 'rules', 'check', $example);
    is $rc, 0, 'check exits 0' or diag $err;
    like $out, qr/4 rules, 3 recipients, valid/, 'says what it holds';

    ($rc, $out, $err) = $t->worker('notify', 'rules', 'load', $example);
    is $rc, 0, 'load exits 0' or diag $err;
    like $out, qr/notification rule set version 1: 4 rules/, 'version 1';
    is $t->value("SELECT min_severity || ' ' || array_to_string(client_ids, ',')"
               . " || ' ' || mode FROM notify_rules WHERE rule_key = 'client-3-high'"),
        'HIGH 3 immediate', 'client 3, HIGH or above, immediately';
    is $t->value("SELECT string_agg(r.address, ',') FROM notify_rule_targets g"
               . " JOIN notify_rules n ON n.id = g.rule_id"
               . " JOIN notify_recipients r ON r.id = g.recipient_id"
               . " WHERE n.rule_key = 'client-3-high'"),
        'ops@client3.example', '... to ops@client3.example';
};

subtest 'check needs no database' => sub {
    my ($out, $err) = ('', '');
    IPC::Run::run([ TTWorker::binary(), 'notify', 'rules', 'check', $example ],
                  \undef, \$out, \$err);
    is $? >> 8, 0, 'no --dsn, exit 0' or diag $err;
};

my @bad = (
    [ 'not JSON', '{"rules": [', qr/not valid JSON/ ],
    [ 'unknown top-level key', '{"recipients": {"a": {"email": "a@b.example"}}, "rules": [], "x": 1}',
      qr/the file: unknown key "x"/ ],
    [ 'no rules', doc(rules => []), qr/rules: expected a non-empty array/ ],
    [ 'rule without id', doc(rules => [ { notify => ['ops'] } ]),
      qr/rules\[0\]: id: missing/ ],
    [ 'duplicate id', doc(rules => [ { id => 'a', notify => ['ops'] },
                                     { id => 'a', notify => ['ops'] } ]),
      qr/rule "a" \(rules\[1\]\): id: already used by rules\[0\]/ ],
    [ 'unknown rule key', doc(rule => { colour => 'red' }),
      qr/rule "r1" \(rules\[0\]\): unknown key "colour"/ ],
    [ 'unknown match key', doc(rule => { match => { planet => 3 } }),
      qr/rule "r1" \(rules\[0\]\): match: unknown key "planet"/ ],
    [ 'client by name', doc(rule => { match => { client => 'Acme' } }),
      qr/rule "r1" \(rules\[0\]\): match\.client: expected integer ids/ ],
    [ 'bad window', doc(rule => { match => { time_of_day => { from => '25:00', to => '06:00' } } }),
      qr/rule "r1" \(rules\[0\]\): match\.time_of_day/ ],
    [ 'bad weekday', doc(rule => { match => { weekdays => ['funday'] } }),
      qr/rule "r1" \(rules\[0\]\): match\.weekdays: "funday" is not a day/ ],
    [ 'bad min_severity', doc(rule => { min_severity => 'CRITICAL' }),
      qr/rule "r1" \(rules\[0\]\): min_severity: expected one of/ ],
    [ 'unknown recipient', doc(rule => { notify => ['nobody'] }),
      qr/rule "r1" \(rules\[0\]\): notify: "nobody" is not a recipient/ ],
    [ 'no recipient', doc(rule => { notify => [] }),
      qr/rule "r1" \(rules\[0\]\): notify: missing/ ],
    [ 'bad mode', doc(rule => { mode => 'hourly' }),
      qr/rule "r1" \(rules\[0\]\): mode: expected/ ],
    [ 'digest without its time', doc(rule => { mode => 'daily' }),
      qr/rule "r1" \(rules\[0\]\): digest_at: a digest needs/ ],
    [ 'weekly digest without its day', doc(rule => { mode => 'weekly', digest_at => '08:00' }),
      qr/rule "r1" \(rules\[0\]\): digest_weekday: a weekly digest needs/ ],
    [ 'address without domain', doc(recipients => { bad => { email => 'ops' } }),
      qr/recipient "bad": email: "ops" is not a mail address/ ],
    [ 'address with a header break', doc(recipients => { bad => { email => "ops\@a.example\r\nBcc: x\@y.example" } }),
      qr/recipient "bad": email: .* is not a mail address/ ],
    [ 'address with two @', doc(recipients => { bad => { email => 'a@b@c.example' } }),
      qr/recipient "bad": email: "a\@b\@c.example" is not a mail address/ ],
    [ 'address with angle brackets', doc(recipients => { bad => { email => '<a@b.example>' } }),
      qr/recipient "bad": email: .* is not a mail address/ ],
    [ 'two kinds', doc(recipients => { bad => { email => 'a@b.example', webhook => 'https://x.example/' } }),
      qr/recipient "bad": give exactly one of email, webhook and portal_role/ ],
    [ 'webhook not http', doc(recipients => { bad => { webhook => 'ftp://x.example/', secret_file => $secret } }),
      qr/recipient "bad": webhook: "ftp:\/\/x.example\/" is not an http/ ],
    [ 'webhook without secret', doc(recipients => { bad => { webhook => 'https://x.example/' } }),
      qr/recipient "bad": secret_file: missing/ ],
    [ 'webhook secret file missing', doc(recipients => { bad => { webhook => 'https://x.example/', secret_file => '/nonexistent/s' } }),
      qr/recipient "bad": secret_file: cannot open/ ],
    [ 'webhook secret not whsec_', doc(recipients => { bad => { webhook => 'https://x.example/',
                                      secret_file => $t->file('bad.secret', "plain-secret-value\n") } }),
      qr/recipient "bad": secret_file: line 1 is not "whsec_"/ ],
    [ 'bad portal role', doc(recipients => { bad => { portal_role => 'admin' } }),
      qr/recipient "bad": portal_role: expected "client" or "operator"/ ],
);

for my $case (@bad) {
    my ($name, $text, $want) = @$case;
    subtest "refused: $name" => sub {
        my $file = $t->file('bad.json', $text);
        my $before = rules_count();
        my ($rc, $out, $err) = $t->worker('notify', 'rules', 'check', $file);
        is $rc, 1, 'check exits 1';
        like $err, qr/\Q$file\E: /, 'the error names the file';
        like $err, $want, 'and the rule or recipient and the field';
        ($rc, $out, $err) = $t->worker('notify', 'rules', 'load', $file);
        is $rc, 1, 'load exits 1';
        like $err, $want, 'load says the same';
        is rules_count(), $before, 'nothing stored';
    };
}

subtest 'a secret never reaches an error message' => sub {
    my $file = $t->file('leak.json', doc(recipients => { bad => {
        webhook => 'https://x.example/',
        secret_file => $t->file('leak.secret', "whsec_c2hvcnQ=\n") } }));
    my ($rc, $out, $err) = $t->worker('notify', 'rules', 'check', $file);
    is $rc, 1, 'a too short secret is refused';
    unlike $err, qr/c2hvcnQ/, 'without quoting it';
};

subtest 'a webhook secret file with two secrets (rotation) loads both' => sub {
    my $two = $t->file('two.secret',
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=\r\n\n"
      . "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
    my $file = $t->file('two.json', doc(
        recipients => { hook => { webhook => 'https://hooks.example/x',
                                  secret_file => 'two.secret' } },
        rule => { notify => ['ops', 'hook'] }));
    my ($rc, $out, $err) = $t->worker('notify', 'rules', 'load', $file);
    is $rc, 0, 'loads (secret_file relative to the rule file)' or diag $err;
    is $t->value("SELECT count(*) FROM notify_webhook_secrets s"
               . " JOIN notify_recipients r ON r.id = s.recipient_id"
               . " WHERE r.address = 'https://hooks.example/x'"), 2,
        'two secrets stored';
    unlike $out . $err, qr/whsec_/, 'none printed';
};

done_testing;
