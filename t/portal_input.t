# What a client puts in the portal's parameters reaches PostgreSQL only
# when PostgreSQL can take it as text: invalid UTF-8 (bad bytes,
# overlongs, surrogates, code points past U+10FFFF) in a query argument or
# a login email is the client's fault, answered 400 with the parameter's
# name, and logged at info at most; not 503 "database unavailable" with an
# error line, which lets any client fill the error log.

use strict;
use warnings;

use lib 't/helper';
use File::Temp ();
use Test::More;
use TrackTikTest;

my $run = time() =~ s/\.//r . $$;
my ($password, $email) = ("input-test password $$", "input.$run\@client.test");
my $secret = "session-secret-$run-0123456789abcdef";

my $secret_file = File::Temp->new(TEMPLATE => 'tt-input-XXXXXX', TMPDIR => 1);
print $secret_file "$secret\n";
$secret_file->flush;

# a client user of this run, and no throttling left by earlier runs
tt_sql(sprintf "SELECT portal_user_add('%s', '%s', 'client', %d, NULL)",
       $email, $password, $$ * 10 + 9);
tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");

my $token = tt_sql("SELECT next FROM ("
                   . tt_login_sql($email, $password, '127.0.0.9', 3600)
                   . ") l");
my $cookie = tt_session_cookie($token, $secret);

my $ngx = TrackTikTest::Nginx->start(
    http => <<"HTTP",
    tracktik_postgres "\$TRACKTIK_DSN" pool=1 portal_pool=1;
HTTP
    server => <<"SERVER",
        tracktik_session_secret_file @{[ $secret_file->filename ]};

        location /portal/api/ {
            tracktik_portal_api;
        }
SERVER
);

my %session = (Cookie => $cookie);
my %json = ('Content-Type' => 'application/json',
            'Origin' => 'http://127.0.0.1:' . $ngx->port);

sub get { tt_get($ngx->url("/portal/api/$_[0]"), \%session) }

sub log_lines {
    my ($level) = @_;
    return grep { /\[$level\]/ } split /\n/, $ngx->error_log;
}

my @bad = (
    ['incidents?q=%ff',              'q',        'a stray continuation'],
    ['incidents?site=%C0%80',        'site',     'an overlong NUL'],
    ['incidents?cursor=%ff',         'cursor',   'a bad cursor'],
    ['incidents?category=%E0%80%AF', 'category', 'an overlong slash'],
    ['incidents?q=%ED%A0%80',        'q',        'a surrogate'],
    ['incidents?q=%F4%90%80%80',     'q',        'past U+10FFFF'],
    ['incidents?q=abc%E2%82',        'q',        'a truncated sequence'],
    ['stats?from=%ff',               'from',     'a bad date'],
    ['incidents.csv?q=%ff',          'q',        'the CSV export'],
);

for my $case (@bad) {
    my ($path, $name, $what) = @$case;
    my ($status, $headers, $body) = get($path);
    is $status, 400, "$what ($path): 400";
    like $body, qr/"error":"[^"]*\b\Q$name\E\b[^"]*UTF-8/,
        '... naming the parameter';
    ok !defined $headers->{'retry-after'}, '... without Retry-After';
}

subtest "a '+' in a query is a space to the search, never in \$request" => sub {
    my ($status) = get('incidents?q=after+hours');
    is $status, 200, 'a search with a plus';
    # nginx logs after the response is sent: wait for the line (5 s at most)
    my @lines;
    for (1 .. 50) {
        @lines = grep { m{/portal/api/incidents\?q=after} }
                 split /\n/, $ngx->access_log;
        last if @lines;
        select undef, undef, undef, 0.1;
    }
    like $lines[-1] // '', qr{incidents\?q=after\+hours HTTP},
        'the access log shows the request as it came';
};

subtest 'valid UTF-8 passes' => sub {
    my ($status, undef, $body) = get('incidents?q=%C3%A9t%C3%A9%F0%9F%98%80');
    is $status, 200, 'two- and four-byte characters in q: 200';
    like $body, qr/"items"/, '... with the incidents';
    ($status) = get('incidents.csv?q=caf%C3%A9');
    is $status, 200, 'in the CSV export too';
};

subtest 'a login email that is not UTF-8 is refused before PostgreSQL' => sub {
    for my $case (["ov\xC0\xAEr\@client.test", 'an overlong dot'],
                  ["su\xED\xA0\x80r\@client.test", 'a surrogate'])
    {
        my ($bytes, $what) = @$case;
        my ($status, undef, $body) = tt_post(
            $ngx->url('/portal/api/login'),
            qq({"email":"$bytes","password":"x"}), \%json);
        is $status, 400, "$what: 400";
        like $body, qr/"error":"[^"]*\bemail\b[^"]*UTF-8/,
            '... naming the email';
    }

    my ($status) = tt_post($ngx->url('/portal/api/login'),
                           qq({"email":"\xC3\xA9$run\@client.test",)
                           . qq("password":"x"}), \%json);
    is $status, 401, 'a UTF-8 email of nobody: 401 as usual';
    tt_sql("DELETE FROM portal_login_failures WHERE ip = '127.0.0.1'");
};

is_deeply [log_lines('error'), log_lines('warn'), log_lines('crit'),
           log_lines('alert')],
          [], 'nothing above info in the error log';

done_testing();
