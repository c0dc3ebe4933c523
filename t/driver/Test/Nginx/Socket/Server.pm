package Test::Nginx::Socket;

# Part of t/driver's Test::Nginx::Socket, loaded by Socket.pm into its
# package (the settings below are its package variables): the
# server root, the generated nginx.conf, user_files, and starting
# and stopping nginx.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use POSIX ();
use Time::HiRes ();

our ($NginxBinary, $ServerPort, $ServerAddr, $ServerName, $ServRoot,
     $LoadModules, $LogLevel, $MasterProcess, $Workers, $WorkerConnections,
     $NoRootLocation, $Sleep, @EnvToNginx, $LogDir, $ErrLogFile,
     $AccLogFile, $HtmlDir, $ConfDir, $ConfFile, $PidFile, $PrevConf);


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

1;
