package TTImport;

# Helpers of the import suites (t/worker/import*.t): exports written by
# the simulator's sim/tt_export.py into a test's temporary directory, and
# files read back as bytes.

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(export_file slurp);

# export_file($t, 'name.csv', @tt_export_options): the path of a
# 20-report export of seed 42 (unless the options say otherwise)
sub export_file {
    my ($t, $name, @args) = @_;
    my $path = "$t->{dir}/$name";
    system('python3', TTWorker::repo() . '/sim/tt_export.py', $path,
           '--history', 20, @args) == 0
        or die "tt_export.py failed for $name";
    return $path;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

1;
