package TTPull;

# What the pull suites expect of `tracktik-worker pull`, modelled apart
# from the code (sql/functions/pull.sql): the pages its sliding windows
# take.

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(pages_for);

# pages_for(n, l): the pages a pull of n reports takes at limit l when
# every month after its cursor holds more than a page: the first full,
# each next one repeating the last report of the one before (l - 1 new),
# the last holding the rest
sub pages_for {
    my ($n, $l) = @_;
    return $n <= $l ? 1 : 1 + int(($n - $l + $l - 2) / ($l - 1));
}

1;
