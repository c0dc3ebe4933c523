package Test::Nginx::Socket;

# A small clean-room implementation of the part of openresty's
# Test::Nginx::Socket that this project's suites use.  scripts/test.sh puts
# t/driver on @INC only when the real module is not installed, so every
# suite must also run unchanged under the real one: this file follows its
# documented behaviour (generated nginx.conf, sections, test counts), not
# its code.
#
# Supported: use Test::Nginx::Socket ['no_plan'], plan, blocks, repeat_each,
# no_shuffle, run_tests, workers, master_on, master_off,
# master_process_enabled, log_level, no_long_string, no_root_location,
# env_to_nginx, add_block_preprocessor, add_cleanup_handler, server_port,
# server_root, html_dir, timeout, bail_out.
#
# Sections: main_config http_config config post_main_config request
# raw_request raw_request_middle_delay more_headers error_code
# error_code_like response_body response_body_like response_body_unlike
# response_headers response_headers_like error_log no_error_log
# grep_error_log grep_error_log_out user_files timeout wait init shutdown
# abort ignore_response log_level skip_nginx skip_eval todo ONLY SKIP LAST.
# Any other section fails the block loudly.
#
# Environment: TEST_NGINX_BINARY (nginx), TEST_NGINX_LOAD_MODULES,
# TEST_NGINX_PORT / TEST_NGINX_SERVER_PORT (1984), TEST_NGINX_SERVROOT
# (t/servroot), TEST_NGINX_LOG_LEVEL (debug), TEST_NGINX_MASTER_PROCESS
# (off), TEST_NGINX_NO_SHUFFLE, TEST_NGINX_TIMEOUT (3),
# TEST_NGINX_FORCE_RESTART_ON_TEST (1), TEST_NGINX_SLEEP (0.015).

use strict;
use warnings;

use Test::Base -base;

use Cwd ();
use Errno ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX ();
use Test::LongString ();
use Time::HiRes ();

our $VERSION = '0.01';

our @EXPORT = qw(plan run_tests repeat_each no_shuffle workers master_on
                 master_off master_process_enabled log_level no_long_string
                 no_root_location env_to_nginx add_block_preprocessor
                 add_cleanup_handler server_port server_root html_dir
                 timeout bail_out);

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $ServRoot = $ENV{TEST_NGINX_SERVROOT}
                || File::Spec->rel2abs('t/servroot');
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES};
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers = 1;
our $WorkerConnections = 64;
our $RepeatEach = 1;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString = 0;
our $NoRootLocation = 0;
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestart = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                    ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;

our $LogDir = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir = "$ServRoot/html";
our $ConfDir = "$ServRoot/conf";
our $ConfFile = "$ConfDir/nginx.conf";
our $PidFile = "$LogDir/nginx.pid";

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

my %Known = map { $_ => 1 } qw(
    main_config http_config config post_main_config
    request raw_request raw_request_middle_delay more_headers
    error_code error_code_like
    response_body response_body_like response_body_unlike
    response_headers response_headers_like
    error_log no_error_log grep_error_log grep_error_log_out
    user_files timeout wait init shutdown abort ignore_response log_level
    skip_nginx skip_eval todo ONLY SKIP LAST
);

my $PrevConf;          # generated nginx.conf of the running nginx
my $ErrLogPos = 0;
my $NginxVersion;
my $Cleaned;


# --- configuration functions (exported) -----------------------------------

sub repeat_each {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle { $NoShuffle = 1 }
sub no_long_string { $NoLongString = 1 }
sub no_root_location { $NoRootLocation = 1 }

sub workers {
    $Workers = shift if @_;
    return $Workers;
}

sub master_on { $MasterProcess = 'on' }
sub master_off { $MasterProcess = 'off' }

sub master_process_enabled {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcess eq 'on' ? 1 : 0;
}

sub log_level {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub env_to_nginx { push @EnvToNginx, @_ }

sub add_block_preprocessor(&) { unshift @BlockPreprocessors, shift }

sub add_cleanup_handler { unshift @CleanupHandlers, shift }

sub server_port {
    $ServerPort = shift if @_;
    return $ServerPort;
}

sub server_root { $ServRoot }
sub html_dir { $HtmlDir }

sub timeout {
    $Timeout = shift if @_;
    return $Timeout;
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}


# --- the run --------------------------------------------------------------

sub run_tests {
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_block($block);
    }

    cleanup();
}

sub cleanup {
    return if $Cleaned;
    $Cleaned = 1;
    stop_nginx();
    $_->() for @CleanupHandlers;
}

END {
    cleanup() unless $Cleaned;
}

sub expand_env {
    my ($text, $name) = @_;
    return $text unless defined $text && !ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
                         : bail_out("$name - No environment $1 defined.\n")
    }ge;
    return $text;
}

sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub nginx_version {
    return $NginxVersion if defined $NginxVersion;
    my $out = `$NginxBinary -v 2>&1`;
    $NginxVersion = $out =~ m{nginx/(\d+)\.(\d+)\.(\d+)}
        ? sprintf('%d.%03d%03d', $1, $2, $3) : 0;
    return $NginxVersion;
}

sub run_block {
    my ($block) = @_;
    my $name = $block->name;

    my @unknown = grep { !$Known{$_} }
                  @{ $block->{_section_order}[0] || [] };
    if (@unknown) {
        fail("$name - unknown section(s) for t/driver: "
             . join(', ', map { "--- $_" } @unknown)
             . " (supported: " . join(' ', sort keys %Known) . ")");
        return;
    }

    # skip_nginx / skip_eval / todo: "N: ..."
    my ($skip, $todo, $ntests, $reason);
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(?::\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        $ntests = $1;
        my ($op, $ver) = ($2, sprintf('%d.%03d%03d', $3, $4, $5));
        $reason = $6 || "nginx version $op $3.$4.$5";
        my $have = nginx_version();
        $skip = eval "$have $op $ver";
    }
    if (!$skip && defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        $ntests = $1;
        $reason = 'skip_eval';
        $skip = eval $2;
        bail_out("$name - skip_eval failed: $@") if $@;
    }
    if (!$skip && defined(my $spec = $block->todo)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - Invalid --- todo spec: $spec");
        ($ntests, $reason, $todo) = ($1, $2, 1);
    }
    if ($skip) {
        SKIP: { Test::More::skip("$name - $reason", $ntests) }
        return;
    }
    if ($todo) {
        TODO: { Test::More::todo_skip("$name - $reason", $ntests) }
        return;
    }

    local $LogLevel = $block->log_level || $LogLevel;

    my $config = expand_env($block->config, $name);
    my $restarted;

    if (!defined $config) {
        bail_out("$name - No '--- config' section specified and could not"
                 . " get previous one.") unless defined $PrevConf;

    } else {
        my $conf_text = gen_config($block, $config);
        if ($ForceRestart || !defined $PrevConf || $conf_text ne $PrevConf
            || !nginx_running())
        {
            stop_nginx();
            setup_server_root();
            write_user_files($block);
            write_file($ConfFile, $conf_text);
            start_nginx($name);
            $PrevConf = $conf_text;
            $restarted = 1;
        }
    }

    if (defined(my $init = $block->init)) {
        # the real Test::Nginx evaluates it in its Util package
        eval "package Test::Nginx::Util; no strict; $init; 1"
            or bail_out("$name - init failed: $@");
    }

    $ErrLogPos = $restarted ? 0 : (-s $ErrLogFile || 0);

    for my $rep (0 .. $RepeatEach - 1) {
        run_requests($block, $rep);
    }
}


# --- nginx ----------------------------------------------------------------

sub gen_config {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $http_config = expand_env($block->http_config // '', $name);
    my $main_config = expand_env($block->main_config // '', $name);
    my $post_main = expand_env($block->post_main_config // '', $name);

    my $load = '';
    if ($LoadModules) {
        $load = join '', map { "load_module $_;\n" }
                         grep { length } split /\s+/, $LoadModules;
    }

    my $env = join '', map { my $v = $_; $v = "'$v'" if $v =~ /\s/;
                             "env $v;\n" } @EnvToNginx;

    my @temp;
    push @temp, "client_body_temp_path $ServRoot/client_body_temp;"
        unless $http_config =~ /\bclient_body_temp_path\b/;
    push @temp, "proxy_temp_path $ServRoot/proxy_temp;"
        unless $http_config =~ /\bproxy_temp_path\b/;
    push @temp, "fastcgi_temp_path $ServRoot/fastcgi_temp;",
                "scgi_temp_path $ServRoot/scgi_temp;",
                "uwsgi_temp_path $ServRoot/uwsgi_temp;";
    my $temp = join '', map { "    $_\n" } @temp;

    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $user = $> == 0 ? "user root;\n" : '';

    return <<"_EOC_";
${load}worker_processes  $Workers;
daemon on;
master_process $MasterProcess;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;
$temp
    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$ServerName';
        client_max_body_size 30M;

        # Begin test case config...
$config
        # End test case config.

$root    }
}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
_EOC_
}

sub write_file {
    my ($path, $body) = @_;
    open my $out, '>', $path or bail_out("Cannot write $path: $!");
    binmode $out;
    print $out $body;
    close $out or bail_out("Cannot write $path: $!");
}

sub setup_server_root {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    }
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir);
    write_file("$HtmlDir/index.html",
               '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>');
}

sub write_user_files {
    my ($block) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files must be text or an array");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;
        write_file($path, expand_env($body // '', $name));
        if ($date) {
            system('env', 'TZ=GMT', 'touch', '-t', $date, $path) == 0
                or bail_out("$name - touch -t $date $path failed");
        }
    }
}

sub nginx_pid {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

# alive and not a zombie (the init here may reap daemons late)
sub proc_alive {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    open my $in, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$in> // '';
    close $in;
    return $stat =~ /\)\s+Z\s/ ? 0 : 1;
}

sub nginx_running {
    return proc_alive(nginx_pid());
}

sub start_nginx {
    my ($name) = @_;
    my $cmd = "$NginxBinary -p $ServRoot/ -c $ConfFile -e $ErrLogFile";
    my $waited = 0;
    my $out;
    while (1) {
        $out = `$cmd 2>&1`;
        last if $? == 0;
        # an old nginx may still hold the port for a moment
        if ($waited < 5 && $out =~ /Address already in use/) {
            Time::HiRes::sleep(0.2);
            $waited += 0.2;
            next;
        }
        bail_out("$name - Cannot start nginx using command \"$cmd\" "
                 . "(status code $?): $out");
    }
    # daemon on: the pid file appears once the master is in place
    for (1 .. 500) {
        last if nginx_pid();
        Time::HiRes::sleep(0.01);
    }
    Time::HiRes::sleep($Sleep);
}

sub stop_nginx {
    my $pid = nginx_pid();
    if (proc_alive($pid)) {
        kill 'QUIT', $pid;
        my $deadline = Time::HiRes::time() + 10;
        while (proc_alive($pid) && Time::HiRes::time() < $deadline) {
            waitpid($pid, POSIX::WNOHANG());
            Time::HiRes::sleep(0.01);
        }
        if (proc_alive($pid)) {
            warn "WARNING: nginx $pid did not quit in 10s; killing it\n";
            kill 'KILL', $pid;
            Time::HiRes::sleep(0.1);
        }
    }
    unlink $PidFile if -f $PidFile;
    undef $PrevConf;
}


# --- requests -------------------------------------------------------------

sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, $text // '') {
        next if $h =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

sub build_request {
    my ($name, $req, $more) = @_;
    my ($hdrs, $chunked) = parse_more_headers($more);

    my ($first, $body) = split /\n/, $req, 2;
    $first //= '';
    $first =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $body //= '';

    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $h = '';
    $h .= "Host: $ServerName\r\n" unless $hdrs =~ /(?:^|\n)Host:/mi;
    $h .= "Connection: close\r\n" unless $hdrs =~ /(?:^|\n)Connection/mi;
    return "$meth $url $ver\r\n$h$hdrs$len\r\n$body";
}

# a list of requests, each a list of packets to send
sub requests_of {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [[@$raw]] if ref $raw eq 'ARRAY';
        return [[$raw]];
    }

    my $req = $block->request;
    return [] unless defined $req;
    my $more = $block->more_headers // '';

    my $more_for = sub {
        my ($i) = @_;
        return $more unless ref $more eq 'ARRAY';
        bail_out("$name - --- more_headers lacks data for the ${i}th request")
            unless defined $more->[$i];
        return $more->[$i];
    };

    if (!ref $req) {
        1 while $req =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        return [[build_request($name, $req, $more_for->(0))]];
    }

    bail_out("$name - invalid ---request : MUST be string or array of "
             . "requests") unless ref $req eq 'ARRAY';

    my @list;
    my $i = 0;
    for my $one (@$req) {
        my $text = ref $one eq 'ARRAY'
                 ? join('', map { ref $_ ? $_->{value} : $_ } @$one)
                 : $one;
        push @list, [build_request($name, $text, $more_for->($i))];
        $i++;
    }
    return \@list;
}

sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;

    my $sock;
    for my $try (1 .. 20) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPort,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        Time::HiRes::sleep(0.01 * $try);
    }
    if (!$sock) {
        fail("$name - Can't connect to $ServerAddr:$ServerPort: $!");
        return undef;
    }
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $delay = $block->raw_request_middle_delay;
    my @out = @$packets;
    my $pending = shift @out;
    my $resp = '';
    my $deadline = Time::HiRes::time() + $timeout;
    my $sel = IO::Select->new($sock);
    my $write_done = 0;

    while (1) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            close $sock;
            fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            return $resp;
        }

        if (!$write_done) {
            my $n = syswrite($sock, $pending);
            if (defined $n) {
                substr($pending, 0, $n) = '';
            } elsif ($! != Errno::EAGAIN && $! != Errno::EWOULDBLOCK) {
                $write_done = 1;    # peer closed: read what it said
            }
            if (!$write_done && $pending eq '') {
                if (@out) {
                    Time::HiRes::sleep(parse_time($delay)) if $delay;
                    $pending = shift @out;
                } else {
                    $write_done = 1;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how =~ /^\s*$/;
                        shutdown($sock, $how);
                    }
                }
            }
        }

        my @r = $sel->can_read($write_done ? $left : 0.001);
        next unless @r;
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) {
            next if $! == Errno::EAGAIN || $! == Errno::EWOULDBLOCK;
            last;                   # reset: keep what we got
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;
    return $resp;
}

sub parse_response {
    my ($name, $raw) = @_;
    $raw //= '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    $res->code(undef) if defined $code && $code !~ /^\d+$/;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    return ($res, $raw_headers) if $res->code
                                   && ($res->code == 304
                                       || $res->code == 101);

    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $body = $res->content // '';

    if (defined $te && $te eq 'chunked') {
        my $decoded = '';
        my $pos = 0;
        while (1) {
            if (substr($body, $pos) !~ /\A[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/) {
                fail("$name - invalid chunked body received");
                last;
            }
            my $size = hex $1;
            $pos += length $&;
            if ($size == 0) {
                last;
            }
            if (length($body) - $pos < $size + 2) {
                fail("$name - invalid chunked data received (not enough "
                     . "octets for the data section)");
                last;
            }
            $decoded .= substr($body, $pos, $size);
            $pos += $size + 2;
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/ && length($body) > $len) {
        $res->content(substr($body, 0, $len));
    }
    return ($res, $raw_headers);
}

sub indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results"
                 . " should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = requests_of($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // $Timeout;
    my $need_array = @$reqs > 1;

    for my $idx (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$idx], $timeout);
        if (!defined $block->ignore_response) {
            my ($res, $raw_headers) = parse_response($name, $raw);
            check_error_code($block, $res, $idx, $need_array);
            check_response_headers($block, $res, $raw_headers, $idx,
                                   $need_array);
            check_response_body($block, $res, $idx, $rep, $need_array);
        }
        if ($idx < $#$reqs) {
            Time::HiRes::sleep(parse_time($block->wait)) if $block->wait;
            check_error_log($block, $rep);
        }
    }

    Time::HiRes::sleep(parse_time($block->wait)) if $block->wait;
    check_error_log($block, $rep);
}


# --- checks ---------------------------------------------------------------

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = indexed($name, $block->error_code_like, $idx, $need_array);
        like($got, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        is($got, indexed($name, $block->error_code, $idx, $need_array),
           "$name - status code ok");
    } else {
        is($got, 200, "$name - status code ok");
    }
}

sub parse_expected_headers {
    my ($text) = @_;
    my @list;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @list, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @list, [$k, $v];
        }
    }
    return @list;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $text = indexed($name, $block->response_headers, $idx,
                           $need_array);
        for my $h (parse_expected_headers($text)) {
            my ($k, $v) = @$h;
            if (!defined $v) {
                unlike($raw_headers, qr/^\s*\Q$k\E\s*:/msi,
                       "$name - header $k not present in the raw headers");
                next;
            }
            $v =~ s/\$ServerPort\b/$ServerPort/g;
            my $got = $res ? $res->header($k) : undef;
            is($got // '', $v, "$name - header $k ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $text = indexed($name, $block->response_headers_like, $idx,
                           $need_array);
        for my $h (parse_expected_headers($text)) {
            my ($k, $v) = @$h;
            my $got = $res ? $res->header($k) : undef;
            like($got // '', qr/^$v$/, "$name - header $k like ok");
        }
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = indexed($name, $block->response_body, $idx,
                               $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env($expected, $name);
        }
        my $label = "$name - response_body - response is expected "
                    . "(repeated req $rep, req $idx)";
        if (ref $expected) {
            like($content, $expected,
                 "$name - response_body - like (repeated req $rep, req $idx)");
        } elsif ($NoLongString) {
            is($content, $expected, $label);
        } else {
            Test::LongString::is_string($content, $expected, $label);
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = indexed($name, $like ? $block->response_body_like
                                       : $block->response_body_unlike,
                          $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//gs;
        my $type = $like ? 'like' : 'unlike';
        my $label = "$name - response_body_$type - response is expected "
                    . "($summary)";
        if ($like) {
            like($content, qr/$pat/s, $label);
        } else {
            unlike($content, qr/$pat/s, $label);
        }
    }
}

sub error_log_lines {
    Time::HiRes::sleep($Sleep * 3);
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in;
    close $in;
    return \@lines;
}

sub fmt_str {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub patterns_of {
    my ($pats) = @_;
    return [grep { length } split /\n+/, $pats] if !ref $pats;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pat = $block->grep_error_log;
    if (defined $grep_pat) {
        $grep_pat = $grep_pat->[$rep] if ref $grep_pat eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- "
                 . "grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $expected = expand_env($expected, $name);

        $lines ||= error_log_lines();
        my $matched = '';
        for my $line (@$lines) {
            my $m;
            if (ref $grep_pat) {
                $m = $& if $line =~ $grep_pat;
            } elsif (index($line, $grep_pat) >= 0) {
                $m = $grep_pat;
            }
            $matched .= "$m\n" if defined $m && $m !~ /\n/;
        }
        my $label = "$name - grep_error_log_out (req $rep)";
        if (ref $expected eq 'Regexp') {
            like($matched, $expected, $label);
        } elsif ($NoLongString) {
            is($matched, $expected, $label);
        } else {
            Test::LongString::is_string($matched, $expected, $label);
        }

    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- "
                 . "grep_error_log_out is defined");
    }

    if (defined $block->error_log) {
        my $pats = patterns_of($block->error_log);
        $lines ||= error_log_lines();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat;
                if (line_matches($line, $pat)) {
                    pass("$name - pattern \"$pat\" matches a line in "
                         . "error.log (req $rep)");
                    undef $pat;
                }
            }
        }
        for my $pat (@$pats) {
            next unless defined $pat;
            fail("$name - pattern \"$pat\" should match a line in "
                 . "error.log (req $rep)");
        }
    }

    if (defined $block->no_error_log) {
        my $pats = patterns_of($block->no_error_log);
        $lines ||= error_log_lines();
        my %found;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                if (line_matches($line, $pat)) {
                    $found{$pat} = 1;
                    fail("$name - pattern \"" . fmt_str($pat) . "\" should "
                         . "not match any line in error.log but matches "
                         . "line \"" . fmt_str($line) . "\" (req $rep)");
                }
            }
        }
        for my $pat (@$pats) {
            next if $found{$pat};
            pass("$name - pattern \"" . fmt_str($pat) . "\" does not match"
                 . " a line in error.log (req $rep)");
        }
    }

    # like the real one: alerts and worse are reported, not counted
    $lines ||= error_log_lines();
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/) {
            my $lvl = $1;
            my $in_checks = grep { defined && !ref && /\[\Q$lvl\E/ }
                            map { ref $_ eq 'ARRAY' ? @$_ : $_ }
                            $block->error_log, $block->no_error_log;
            warn "WARNING: $name - " . fmt_str($line) . "\n"
                unless $in_checks;
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            fail("$name - " . fmt_str($line));
        }
    }
}

1;
