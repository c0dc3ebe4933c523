package TrackTikTest;

# Test helpers shared by the suites (t/*.t, t/worker/*.t).
#
#   use lib 't/helper';
#   use TrackTikTest;
#
# Every helper is exported into the caller and also aliased into
# Test::Base::Filter, the package `--- xxx eval` sections run in, so both
# `tt_sql(...)` and `::tt_sql(...)` work there.  Note that Test::Base runs
# the `eval` sections of every block at once when run_tests starts, before
# the first block's nginx: they cannot see what earlier blocks did.  A
# `--- init` section runs per block, just before its requests, in package
# Test::Nginx::Util (with both drivers): call helpers there as ::tt_sql().
#
#   tt_dsn()                         libpq conninfo ($ENV{TRACKTIK_DSN})
#   tt_sql($sql)                     psql -At output, chomped; dies on error
#   tt_pg($cmd)                      scripts/pg.sh start|stop|kill|restart
#   tt_hmac_hex($alg, $key, $body)   lowercase hex HMAC (sha512 | sha256)
#   tt_standard_signature($secret, $id, $ts, $body)
#                                    Standard Webhooks v1: "v1,<base64>"
#   tt_session_cookie($token, $key)  the portal's "tt_session=..." cookie
#                                    (the signers: t/helper/TrackTikSign.pm)
#   tt_sample_report(%overrides)     a TrackTik report entity as JSON text
#                                    (t/data/reports/incident.json, a new
#                                    id each call; undef deletes a key)
#   tt_fixture($name)                t/data/$name as text
#   tt_write_file($path, $text)      writes a file (e.g. a secret file)
#   tt_post($url, $body, \%headers)  (status, \%headers, $body)
#   tt_get($url, \%headers)          (status, \%headers, $body)
#
#   my $n = TrackTikTest::Nginx->start(http => ..., server => ...,
#                                      workers => 2, master => 1);
#   $n->port; $n->url('/x'); $n->reload(...); $n->error_log; $n->pid;
#   $n->stop;

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use IPC::Run ();

use TrackTikFixture;
use TrackTikSign;

use Exporter 'import';

our @EXPORT = qw(tt_dsn tt_sql tt_pg tt_hmac_hex tt_standard_signature
                 tt_session_cookie tt_sample_report tt_fixture
                 tt_write_file tt_post tt_get tt_repo tt_login_sql
                 tt_portal_api_blocks);

# `--- request eval` and friends run in Test::Base::Filter
for my $name (@EXPORT) {
    no strict 'refs';
    *{"Test::Base::Filter::$name"} = \&{$name};
}

my $repo = $ENV{TT_REPO}
    || File::Spec->rel2abs(dirname(__FILE__) . '/../..');

sub tt_repo { $repo }

sub tt_dsn {
    my $dsn = $ENV{TRACKTIK_DSN};
    croak "TRACKTIK_DSN is not set (eval \"\$(scripts/pg.sh env)\")"
        unless defined $dsn && $dsn ne '';
    return $dsn;
}

sub tt_sql {
    my ($sql) = @_;
    croak "tt_sql: no SQL given" unless defined $sql;
    my ($out, $err) = ('', '');
    my @cmd = ('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
               '-d', tt_dsn(), '-c', $sql);
    IPC::Run::run(\@cmd, \undef, \$out, \$err)
        or croak "tt_sql: psql failed ($?): $err\n  SQL: $sql\n";
    $out =~ s/\r?\n\z//;    # not chomp: callers may have local $/ = undef
    return $out;
}

sub tt_pg {
    my ($cmd) = @_;
    croak "tt_pg: unknown command '" . ($cmd // '') . "'"
        unless defined $cmd && $cmd =~ /^(?:start|stop|kill|restart|status)$/;
    my ($out, $err) = ('', '');
    my $ok = IPC::Run::run(["$repo/scripts/pg.sh", $cmd],
                           \undef, \$out, \$err);
    return $ok if $cmd eq 'status';
    $ok or croak "tt_pg: scripts/pg.sh $cmd failed ($?): $err$out";
    return $out;
}

# SQL for a login the way the module makes it, with pgcrypto's crypt()
# standing in for the module's password thread: portal_login_hash(), the
# password checked against the hash it answers, portal_login_open().  Its
# row is the portal_answer (status, body, user_email, client_id, next).
sub tt_login_sql {
    my ($email, $password, $ip, $ttl) = @_;
    my ($e, $p, $a) = map { my $v = $_; $v =~ s/'/''/g; "'$v'" }
                          $email, $password, $ip;
    return "SELECT * FROM portal_login_open($e, coalesce(("
         . "SELECT h.next FROM portal_login_hash($e, $a) h"
         . " WHERE h.status = 200 AND crypt($p, h.next) = h.next), ''),"
         . " $a, " . int($ttl) . ")";
}

# a block preprocessor for the portal API suites: unless a block says
# otherwise, one pool to the test database, the portal under /portal/api/
# and the session secret in a file
#   my $blocks = tt_portal_api_blocks($Secret);
#   add_block_preprocessor(sub { $blocks->(@_) });
sub tt_portal_api_blocks {
    my ($secret) = @_;
    return sub {
        my $block = shift;

        $block->set_value('http_config', <<'_EOC_')
    tracktik_postgres "$TEST_NGINX_TRACKTIK_DSN" pool=1 portal_pool=2;
_EOC_
            unless defined $block->http_config;

        $block->set_value('config', <<'_EOC_')
    tracktik_session_secret_file ../html/session.secret;

    location /portal/api/ {
        tracktik_portal_api;
    }
_EOC_
            unless defined $block->config;

        $block->set_value('user_files', ">>> session.secret\n$secret\n")
            unless defined $block->user_files;
    };
}

sub tt_hmac_hex { TrackTikSign::hmac_hex(@_) }

sub tt_standard_signature { TrackTikSign::standard_signature(@_) }

sub tt_session_cookie { TrackTikSign::session_cookie(@_) }

sub tt_fixture { TrackTikFixture::text(@_) }

sub tt_write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or croak "tt_write_file: $path: $!";
    print $fh $text;
    close $fh or croak "tt_write_file: $path: $!";
    return $path;
}

my $sample_seq = 0;

sub tt_sample_report {
    my (%over) = @_;
    $sample_seq++;
    my $report = TrackTikFixture::report('incident');
    my $id = 480000 + ($$ % 10000) * 10 + $sample_seq;
    $report->{id} = $id;
    $report->{uri} =~ s{/\d+\z}{/$id};
    TrackTikFixture::apply($report, %over);
    return TrackTikFixture::encode($report);
}

sub _http {
    my ($method, $url, $body, $headers) = @_;
    my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 30,
                               max_redirect => 0);
    my %opt = (headers => { %{ $headers || {} } });
    $opt{content} = $body if defined $body;
    my $res = $http->request($method, $url, \%opt);
    if ($res->{status} == 599) {
        croak "tt_post/tt_get: $method $url: $res->{content}";
    }
    return ($res->{status}, $res->{headers}, $res->{content});
}

sub tt_post {
    my ($url, $body, $headers) = @_;
    return _http('POST', $url, $body // '', $headers);
}

sub tt_get {
    my ($url, $headers) = @_;
    return _http('GET', $url, undef, $headers);
}


package TrackTikTest::Nginx;

# A whole nginx of its own for tests that need more control than
# Test::Nginx gives: a master with several workers, reloads, restarts,
# durability checks.  It runs under a temporary prefix, on a free
# 127.0.0.1 port, with the module loaded.
#
#   start(%opt): http => text inside http {}, server => text inside
#     server {}, main => text at top level, workers => N (default 1),
#     master => 0|1 (default 1 when workers > 1), log_level (default
#     info), module => .so path ('' for none; default
#     $TEST_NGINX_LOAD_MODULES or build/ngx_http_tracktik_module.so),
#     binary (default $TEST_NGINX_BINARY or /usr/sbin/nginx), port.
#   `$TEST_NGINX_*` and `$TRACKTIK_DSN` in the snippets are expanded.
#   The nginx.conf is written by TrackTikNginxConf, the generator the
#   benches and `make run` share.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);

use TrackTikNginxConf;

sub _expand {
    my ($text) = @_;
    return '' unless defined $text;
    $text =~ s/\$((?:TEST_NGINX_|TRACKTIK_)[A-Z0-9_]+)/
        defined $ENV{$1} ? $ENV{$1}
                         : croak "TrackTikTest::Nginx: \$$1 is not set"/ge;
    return $text;
}

sub start {
    my ($class, %opt) = @_;
    my $self = bless { %opt }, $class;
    $self->{workers} //= 1;
    $self->{master} //= $self->{workers} > 1 ? 1 : 0;
    croak "TrackTikTest::Nginx: several workers need master => 1"
        if $self->{workers} > 1 && !$self->{master};
    $self->{log_level} //= 'info';
    $self->{binary} //= $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    if (!defined $self->{module}) {
        my @m = grep { length } split /\s+/,
                ($ENV{TEST_NGINX_LOAD_MODULES} // '');
        $self->{module} = @m ? $m[0]
            : TrackTikTest::tt_repo() . '/build/ngx_http_tracktik_module.so';
    }
    croak "TrackTikTest::Nginx: module $self->{module} not built"
        if $self->{module} ne '' && !-f $self->{module};
    $self->{port} //= TrackTikNginxConf::free_port();
    $self->{generation} = 1;
    $self->{tmp} = File::Temp->newdir('tt-nginx-XXXXXX', TMPDIR => 1,
                                      CLEANUP => !$ENV{TT_KEEP_NGINX});
    $self->{prefix} = $self->{tmp}->dirname;
    chmod 0755, $self->{prefix};
    mkdir "$self->{prefix}/$_" for qw(conf logs html);
    $self->_write_conf;
    my $out = `$self->{binary} -p $self->{prefix}/ -e $self->{prefix}/logs/error.log -c $self->{prefix}/conf/nginx.conf 2>&1`;
    if ($? != 0) {
        croak "TrackTikTest::Nginx: nginx did not start: $out\n"
              . $self->error_log;
    }
    $self->{started} = 1;
    $self->_wait_serving;
    $self->_wait_workers;
    return $self;
}

# every worker process forked: one serving is not all of them (a slow
# start, a sanitizer build), and suites compare worker pids later
sub _wait_workers {
    my ($self) = @_;
    my $want = $self->{master} ? ($self->{workers} // 1) : 0;
    for (1 .. 300) {
        my @pids = $self->worker_pids;
        return 1 if @pids >= $want;
        sleep 0.05;
    }
    croak "TrackTikTest::Nginx: fewer than $want workers after 15 s\n"
          . $self->error_log;
}

sub _write_conf {
    my ($self) = @_;
    my $p = $self->{prefix};
    TrackTikNginxConf::write_file("$p/conf/nginx.conf",
        prefix => $p,
        listen => "127.0.0.1:$self->{port}",
        module => $self->{module},
        user => $> == 0 ? 'root' : undef,
        workers => $self->{workers},
        master => $self->{master},
        error_log_level => $self->{log_level},
        access_log => "$p/logs/access.log",
        main => _expand($self->{main}),
        events => 'accept_mutex off;',
        http => "default_type text/plain;\nkeepalive_timeout 0;\n\n"
              . _expand($self->{http}),
        server => <<"SERVER" . _expand($self->{server}));
server_name localhost;
client_max_body_size 30M;

location = /__tt_generation {
    return 200 "$self->{generation}";
}

SERVER
}

sub _generation_served {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 2)
        or return undef;
    print $s "GET /__tt_generation HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    return $resp =~ /\r\n\r\n(\d+)\z/ ? $1 : undef;
}

sub _wait_serving {
    my ($self) = @_;
    for (1 .. 300) {
        my $g = $self->_generation_served;
        return 1 if defined $g && $g == $self->{generation};
        sleep 0.05;
    }
    croak "TrackTikTest::Nginx: nginx on port $self->{port} does not serve"
          . " generation $self->{generation}\n" . $self->error_log;
}

sub port { $_[0]{port} }
sub prefix { $_[0]{prefix} }

sub url {
    my ($self, $path) = @_;
    $path //= '/';
    return "http://127.0.0.1:$self->{port}$path";
}

sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{prefix}/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef unless defined $pid;
    $pid =~ s/\s+\z//;
    return $pid;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{prefix}/logs/error.log" or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}

sub access_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{prefix}/logs/access.log" or return '';
    local $/;
    my $text = <$fh>;
    return $text // '';
}

# Reload the configuration (optionally with new http/server/main
# snippets): nginx -t first, then HUP, then wait until the new workers
# answer and the old ones have exited.
sub reload {
    my ($self, %opt) = @_;
    croak "TrackTikTest::Nginx: reload needs master => 1"
        unless $self->{master};
    for my $k (qw(main http server)) {
        $self->{$k} = $opt{$k} if exists $opt{$k};
    }
    $self->{generation}++;
    $self->_write_conf;
    my $p = $self->{prefix};
    my $out = `$self->{binary} -t -p $p/ -e $p/logs/error.log -c $p/conf/nginx.conf 2>&1`;
    croak "TrackTikTest::Nginx: new configuration rejected: $out" if $?;
    my $pid = $self->pid or croak "TrackTikTest::Nginx: no master pid";
    my @old = $self->worker_pids;
    CORE::kill 'HUP', $pid or croak "TrackTikTest::Nginx: HUP $pid: $!";
    $self->_wait_serving;
    # the old workers finish their requests and exit
    for my $w (@old) {
        _wait_gone($w, 10)
            or croak "TrackTikTest::Nginx: old worker $w did not exit";
    }
    return $self;
}

# alive and not a zombie (the init here may reap daemons late)
sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && CORE::kill 0, $pid;
    open my $in, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$in> // '';
    close $in;
    return $stat =~ /\)\s+Z\s/ ? 0 : 1;
}

sub _wait_gone {
    my ($pid, $secs) = @_;
    for (1 .. $secs * 100) {
        waitpid($pid, POSIX::WNOHANG());
        return 1 unless _alive($pid);
        sleep 0.01;
    }
    return 0;
}

# Graceful stop (QUIT); KILL if it has not exited within 10 s.
sub stop {
    my ($self) = @_;
    return unless $self->{started};
    my $pid = $self->pid;
    if (_alive($pid)) {
        CORE::kill 'QUIT', $pid;
        if (!_wait_gone($pid, 10)) {
            CORE::kill 'KILL', $pid;
            _wait_gone($pid, 5);
        }
    }
    $self->{started} = 0;
    return 1;
}

# SIGKILL the master (and workers): a crash, for durability tests.
sub kill {
    my ($self) = @_;
    my $pid = $self->pid or return;
    my @workers = $self->worker_pids;
    CORE::kill 'KILL', $pid, @workers;
    _wait_gone($_, 5) for $pid, @workers;
    $self->{started} = 0;
    return 1;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->pid or return ();
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $e (readdir $d) {
        next unless $e =~ /^\d+$/;
        open my $fh, '<', "/proc/$e/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        # a worker that has exited but is not yet reaped (Z) is gone
        push @pids, $e if $stat =~ /\)\s+([^ZX\s])\s+(\d+)/
                          && $2 == $master;
    }
    closedir $d;
    return sort { $a <=> $b } @pids;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop if $self->{started};
}

1;
