#!/usr/bin/perl
# tracktik-worker import's progress on stderr (doc/import.md, issue 11
# item 3).  On a terminal (a pseudo-terminal, IO::Pty): a bar redrawn in
# place with carriage returns, giving rows, rows/s and an ETA, a last
# redraw at 100% once the file is read, then the merge line; no escape
# sequence, no plain line.  Not on a terminal (stderr a file): plain
# lines every --progress-interval seconds with the same figures, the last
# at 100%, and no carriage return or escape sequence at all.
#
# The export is large enough that reading it takes a few seconds; when
# this machine reads it faster than that, the file is doubled and the
# check made again, never passed on too few lines.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Pty;
use IO::Select;
use IPC::Run qw(run timeout);
use POSIX ();
use Time::HiRes qw(time);
use TTWorker;
use TTImport;

my $t = TTWorker->new('import_progress');
$t->load_contracts;

my $SECONDS = 3;                # reading must take at least this long
my $plain = qr/^import: (\d+) rows, (\d+) rows\/s, (\d+)%, ETA (\d+ s|-)$/;

# stderr to a file: (exit code, stdout, stderr)
sub import_to_file {
    my ($file, @args) = @_;
    my ($out, $errfile) = ('', "$t->{dir}/progress.err");
    run([ TTWorker::binary(), 'import', $file, @args, '--dsn', $t->dsn ],
        \undef, \$out, '2>', $errfile, timeout(900));
    return ($? >> 8, $out, slurp($errfile));
}

# stderr to a pseudo-terminal: (exit code, stdout, what the terminal got)
sub import_on_pty {
    my ($file) = @_;
    my $pty = IO::Pty->new;
    my $slave = $pty->slave;
    my $outfile = "$t->{dir}/progress.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $pty;
        open STDIN, '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>', $outfile or POSIX::_exit(126);
        open STDERR, '>&', $slave or POSIX::_exit(126);
        exec(TTWorker::binary(), 'import', $file, '--dsn', $t->dsn)
            or POSIX::_exit(127);
    }
    $pty->close_slave;

    # until the worker exits and the terminal has nothing more
    my ($screen, $sel, $end) = ('', IO::Select->new($pty), time + 900);
    while (time < $end) {
        next unless $sel->can_read(1);
        my $n = sysread($pty, my $buf, 65536);
        last unless $n;         # 0, or EIO once the last writer is gone
        $screen .= $buf;
    }
    # gone, or killed when it outlived the deadline
    if (waitpid($pid, POSIX::WNOHANG()) != $pid) {
        kill 'KILL', $pid if time >= $end;
        waitpid($pid, 0);
    }
    my $rc = $? >> 8;
    close $pty;
    return ($rc, slurp($outfile), $screen);
}

# the checks both forms share, on what was shown while reading: each
# [ rows, rows/s, ETA ] of them
sub while_reading {
    my (@shown) = @_;
    is scalar(grep { $_->[2] =~ /^\d+ s$/ } @shown), scalar @shown,
       'each with an ETA in seconds';
    is scalar(grep { $_->[1] > 0 } @shown), scalar @shown,
       'and a rate in rows/s';
    is_deeply [ map { $_->[0] } @shown ],
              [ sort { $a <=> $b } map { $_->[0] } @shown ],
              'the row counts grow';
}

my $rows = 150000;
my $file = export_file($t, 'progress.csv', '--rows', $rows);

subtest 'not a terminal: plain periodic lines' => sub {
    my ($rc, $out, $err, @lines, $read_s);
    for my $try (1 .. 3) {
        ($rc, $out, $err) = import_to_file($file, '--progress-interval', 1);
        @lines = split /\n/, $err;
        # the line written when the file is read: just before the merge's
        my ($read) = grep { $lines[$_] eq 'import: merging into the ledger' }
                     1 .. $#lines;
        last unless $rc == 0 && $read && $lines[$read - 1] =~ $plain;
        $read_s = $2 > 0 ? $1 / $2 : 0;
        last if $read_s >= $SECONDS;
        diag "the file was read in ${read_s}s: twice as many rows";
        $rows *= 2;
        $file = export_file($t, 'progress.csv', '--rows', $rows);
    }
    is $rc, 0, 'exit 0' or diag $err;
    like $out, qr/: $rows rows: \d+ new, \d+ unchanged, 0 updated, 0 rejected/,
         'the summary on stdout';
    ok $read_s && $read_s >= $SECONDS,
       "reading took ${\ ($read_s // 0)}s, enough for periodic lines"
        or return;

    unlike $err, qr/\r/, 'no carriage return';
    unlike $err, qr/\e/, 'no escape sequence';
    my @bad = grep { !/$plain/ && $_ ne 'import: merging into the ledger' }
              @lines;
    is_deeply \@bad, [], 'nothing but progress lines and the merge line';
    is $lines[-1], 'import: merging into the ledger', 'the merge line last';

    my @p = map { [ /$plain/ ] } grep { /$plain/ } @lines;
    my @during = @p[0 .. $#p - 1];
    ok @during >= 2, scalar(@during) . ' lines while reading, one a second'
        or diag $err;
    ok @during <= $read_s + 2, 'not more than one a second' or diag $err;
    while_reading(map { [ @$_[0, 1, 3] ] } @during);
    ok $during[-1][0] < $rows, 'below the total while reading';
    is_deeply [ @{ $p[-1] }[0, 2] ], [ $rows, 100 ],
              'the last: every row, 100%';
    is $p[-1][3], '-', 'no ETA left';
    is scalar(grep { $_->[3] eq '-' } @p), 1, 'once';
};

subtest 'on a terminal: a bar redrawn in place' => sub {
    my ($rc, $out, $screen) = import_on_pty($file);
    is $rc, 0, 'exit 0' or diag $screen;
    like $out, qr/: $rows rows: 0 new, $rows unchanged/,
         'the summary on stdout (the same file again: unchanged)';

    unlike $screen, qr/\e/, 'no escape sequence';
    unlike $screen, qr/^import: \d+ rows,/m, 'no plain progress line';
    # the terminal turns each "\n" into "\r\n"; what is left of "\r" is
    # the worker's own
    (my $s = $screen) =~ s/\r\n/\n/g;
    my @draws;
    while ($s =~ /\r\[([#.]{40})\]\ +(\d+)%\ (\d+)\ rows\ (\d+)\ rows\/s
                  \ ETA\ (\d+\ s|-)\ {3}/gx) {
        push @draws, [ $1, $2, $3, $4, $5 ];
    }
    my @during = @draws[0 .. $#draws - 1];
    ok @during >= 3, scalar(@during) . ' redraws while reading'
        or diag explain $s;
    while_reading(map { [ @$_[2, 3, 4] ] } @during);
    # the bar: one '#' per 2.5% (the percentage is rounded, the bar cut)
    is scalar(grep { abs(($_->[0] =~ tr/#//) - $_->[1] * 0.4) <= 1 } @draws),
       scalar @draws, 'each bar as full as its percentage';
    is_deeply [ @{ $draws[-1] }[0 .. 2] ], [ '#' x 40, 100, $rows ],
              'the last redraw: full, 100%, every row';
    like $s, qr/\r\[\#{40}\]\ 100%\ $rows\ rows\ \d+\ rows\/s\ ETA\ -\ {3}
                \nimport:\ merging\ into\ the\ ledger\ \.\.\.\n\z/x,
         'then the merge line, ended when the import is';
    my $count = () = $s =~ /\r\[/g;
    is $count, scalar @draws, 'every redraw has that form';
};

done_testing;
