#!/usr/bin/perl
# Print (or write) a standalone nginx.conf: the command-line face of
# t/helper/TrackTikNginxConf.pm, for the bench scripts and scripts/run.sh.
#
#   scripts/nginx-conf.pl --prefix DIR [--listen ADDR:PORT] [--module SO]
#       [--workers N] [--master on|off] [--error-log-level LEVEL]
#       [--worker-connections N] [--access-log off|PATH...]
#       [--main TEXT] [--events TEXT] [--http TEXT] [--server TEXT]
#       [--http-file FILE] [--set NAME=VALUE ...] [--out FILE]
#
# --http-file appends a file's text to the http level, its @NAME@
# placeholders filled from --set (a placeholder left unfilled is an
# error).  --out writes FILE atomically instead of printing.
use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Getopt::Long;

use lib File::Spec->rel2abs(dirname(__FILE__) . '/../t/helper');
use TrackTikNginxConf;

my (%o, %set, $http_file, $out);
GetOptions(
    'prefix=s' => \$o{prefix}, 'listen=s' => \$o{listen},
    'module=s' => \$o{module}, 'workers=i' => \$o{workers},
    'master=s' => \$o{master}, 'error-log-level=s' => \$o{error_log_level},
    'worker-connections=i' => \$o{worker_connections},
    'access-log=s' => \$o{access_log}, 'main=s' => \$o{main},
    'events=s' => \$o{events}, 'http=s' => \$o{http},
    'server=s' => \$o{server}, 'http-file=s' => \$http_file,
    'set=s' => \%set, 'out=s' => \$out,
) or die "nginx-conf.pl: see the header of $0 for the options\n";
die "nginx-conf.pl: unexpected arguments: @ARGV\n" if @ARGV;
die "nginx-conf.pl: --prefix is required\n" unless defined $o{prefix};

if (defined $o{master}) {
    die "nginx-conf.pl: --master is on or off\n"
        unless $o{master} =~ /^(on|off)$/;
    $o{master} = $o{master} eq 'on' ? 1 : 0;
}

if (defined $http_file) {
    open my $fh, '<', $http_file or die "nginx-conf.pl: $http_file: $!\n";
    local $/;
    my $text = <$fh> // '';
    close $fh;
    $text =~ s/^#.*\n//mg;    # the file's own comments stay in the file
    $text =~ s/\@([A-Z_]+)\@/
        defined $set{$1} ? $set{$1}
            : die "nginx-conf.pl: $http_file: no --set $1=...\n"/ge;
    $o{http} = join "\n", grep { defined } $o{http}, $text;
}

my %given = map { $_ => $o{$_} } grep { defined $o{$_} } keys %o;
my $conf = eval {
    defined $out ? TrackTikNginxConf::write_file($out, %given)
                 : TrackTikNginxConf::render(%given);
};
if (!defined $conf) {
    (my $err = $@) =~ s/ at \S+ line \d+\.?\n\z/\n/;
    die "nginx-conf.pl: $err";
}
print $conf unless defined $out;
