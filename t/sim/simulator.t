#!/usr/bin/perl
# The TrackTik simulator's Python unittest suite (sim/tests) as TAP: one
# TAP test per Python test, plus the suite's exit status.  The whole
# unittest output is shown when anything fails.

use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

my $root = abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..'));
chdir $root or BAIL_OUT("cannot chdir to $root: $!");

my $python = $ENV{PYTHON} || 'python3';

# run unittest with its verbose report on stderr folded into our pipe
local $ENV{PYTHONDONTWRITEBYTECODE} = 1;
local $ENV{PYTHONUNBUFFERED} = 1;
open(my $fh, '-|', "$python -m unittest discover -s sim/tests -v 2>&1")
    or BAIL_OUT("cannot run $python: $!");
my @lines = <$fh>;
close $fh;
my $status = $? >> 8;
my $output = join '', @lines;

my $result_re = qr/(ok|FAIL|ERROR|skipped(?: .*)?|expected failure|unexpected success)$/;
my ($pending, $count) = (undef, 0);

sub report {
    my ($name, $result) = @_;
    $count++;
    if ($result eq 'ok' || $result eq 'expected failure') {
        pass($name);
    } elsif ($result =~ /^skipped ?(.*)$/) {
      SKIP: { skip("$name: " . ($1 || 'skipped'), 1); }
    } else {
        fail("$name ($result)");
    }
}

for my $line (@lines) {
    chomp $line;
    if ($line =~ /^(test\S*) \(([\w.]+)\)(.*)$/) {
        my ($test, $where, $rest) = ($1, $2, $3);
        $where =~ s/\.\Q$test\E$//;
        $pending = "$where.$test";
        if ($rest =~ / \.\.\. $result_re/) {
            report($pending, $1);
            undef $pending;
        }
        next;
    }
    if (defined $pending && $line =~ /(?:^|\.\.\. )$result_re/) {
        report($pending, $1);
        undef $pending;
    }
}

ok($count > 0, "sim/tests ran tests ($count)");
is($status, 0, 'python3 -m unittest discover -s sim/tests exits 0')
    or diag($output);
diag($output) if !Test::More->builder->is_passing && $status == 0;

done_testing();
