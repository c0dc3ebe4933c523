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
use File::Spec ();
use List::Util qw(shuffle);

# The rest of this package, in files beside it (Socket/): Server.pm (the
# server root, nginx.conf, start and stop), Request.pm (sending a block's
# requests, reading the responses), Check.pm (the checks of a response
# and of error.log).  Loaded by path, after Test::Base has given this
# package Test::More's functions, so that an installed Test::Nginx never
# stands in for them.
BEGIN {
    my ($vol, $dir) = File::Spec->splitpath(File::Spec->rel2abs(__FILE__));
    for my $part (qw(Server Request Check)) {
        my $file = File::Spec->catpath($vol,
                                       File::Spec->catdir($dir, 'Socket'),
                                       "$part.pm");
        require $file;
    }
}
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

our $PrevConf;         # generated nginx.conf of the running nginx
our $ErrLogPos = 0;    # where the block's error.log lines begin
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

1;
