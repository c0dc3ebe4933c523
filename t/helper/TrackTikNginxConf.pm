package TrackTikNginxConf;

# The one nginx.conf generator for tests, benches and `make run`: a
# standalone nginx under its own prefix (pid, logs and temp paths there),
# the module loaded, and the caller's snippets at the main, events, http
# and server levels.  Used by TrackTikTest::Nginx, bench/lib.sh (through
# scripts/nginx-conf.pl) and scripts/run.sh.
#
#   my $text = TrackTikNginxConf::render(
#       prefix => $dir,                 # required, absolute
#       listen => '127.0.0.1:8080',     # with it, a server block around
#                                       # `server`; without it, none (the
#                                       # `http` text brings its own)
#       module => $so,                  # load_module; '' or undef: none
#       user => 'root',                 # optional
#       workers => 2,                   # worker_processes (1)
#       master => 1,                    # master_process (on when workers > 1)
#       daemon => 1,                    # (on)
#       error_log_level => 'warn',      # (info)
#       worker_connections => 4096,     # (1024)
#       access_log => 'off',            # optional: the http access_log
#       main => ..., events => ..., http => ..., server => ...,
#   );
#   TrackTikNginxConf::write_file($file, %same);   render, written atomically
#   TrackTikNginxConf::free_port();                a free 127.0.0.1 port

use strict;
use warnings;

use Carp qw(croak);
use IO::Socket::INET;

my %known = map { $_ => 1 } qw(prefix listen module user workers master
    daemon error_log_level worker_connections access_log main events http
    server);

# a snippet re-indented to its level: its common leading space replaced by
# $pad, leading blank lines and trailing space dropped
sub _block {
    my ($text, $pad) = @_;
    return '' unless defined $text && $text =~ /\S/;
    $text =~ s/\A\s*\n//;
    $text =~ s/\s+\z//;
    my ($common) = sort { length $a <=> length $b }
                   $text =~ /^([ \t]*)\S/mg;
    $text =~ s/^\Q$common\E//mg;
    $text =~ s/^(?=.)/$pad/mg;
    return "$text\n";
}

sub _on { $_[0] ? 'on' : 'off' }

sub render {
    my (%o) = @_;
    for my $k (keys %o) {
        croak "TrackTikNginxConf: unknown parameter '$k'" unless $known{$k};
    }
    my $p = $o{prefix};
    croak "TrackTikNginxConf: prefix must be an absolute path"
        unless defined $p && $p =~ m{^/};
    $p =~ s{/+\z}{};
    my $workers = $o{workers} // 1;
    croak "TrackTikNginxConf: workers must be a positive number"
        unless $workers =~ /^[1-9]\d*$/;
    my $master = $o{master} // ($workers > 1);
    croak "TrackTikNginxConf: several workers need a master"
        if $workers > 1 && !$master;
    my $level = $o{error_log_level} // 'info';
    my $conns = $o{worker_connections} // 1024;

    my $conf = '';
    $conf .= "load_module $o{module};\n"
        if defined $o{module} && $o{module} ne '';
    $conf .= "user $o{user};\n" if defined $o{user};
    $conf .= "worker_processes  $workers;\n"
           . "master_process    " . _on($master) . ";\n"
           . "daemon            " . _on($o{daemon} // 1) . ";\n"
           . "pid               $p/logs/nginx.pid;\n"
           . "error_log         $p/logs/error.log $level;\n";
    $conf .= _block($o{main}, '');
    $conf .= "\nevents {\n    worker_connections  $conns;\n"
           . _block($o{events}, '    ') . "}\n";
    $conf .= "\nhttp {\n";
    $conf .= sprintf "    %-22s %s;\n", 'access_log', $o{access_log}
        if defined $o{access_log};
    $conf .= sprintf "    %-22s %s/%s_temp;\n", "${_}_temp_path", $p, $_
        for qw(client_body proxy fastcgi uwsgi scgi);
    my $http = _block($o{http}, '    ');
    $conf .= "\n$http" if $http ne '';
    if (defined $o{listen}) {
        croak "TrackTikNginxConf: bad listen address '$o{listen}'"
            unless $o{listen} =~ /^[\w.:\[\]-]+$/;
        $conf .= "\n    server {\n        listen  $o{listen};\n";
        my $server = _block($o{server}, '        ');
        $conf .= "\n$server" if $server ne '';
        $conf .= "    }\n";
    } elsif (defined $o{server}) {
        croak "TrackTikNginxConf: server text needs listen";
    }
    $conf .= "}\n";
    return $conf;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1)
        or croak "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# writes the configuration atomically (a reload never reads half a file)
sub write_file {
    my ($file, %o) = @_;
    my $text = render(%o);
    open my $fh, '>', "$file.tmp" or croak "cannot write $file: $!";
    print $fh $text;
    close $fh or croak "cannot write $file: $!";
    rename "$file.tmp", $file or croak "cannot rename $file.tmp: $!";
    return $file;
}

1;
