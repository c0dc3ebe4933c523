#!/usr/bin/perl
# tracktik-worker's log as journald and an operator see it: one info line
# per batch (the per-job lines are debug), --log-level filtering, and the
# syslog priority prefixes (<3> error .. <7> debug) only when stderr is
# the stream systemd named in JOURNAL_STREAM.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TTWorker;

my $t = TTWorker->new('log');
$t->load_contracts;

# a drained queue of n good jobs and one bad; stderr into a file whose
# device:inode JOURNAL_STREAM names (or another one's); -> the log
sub drain_logged {
    my (%o) = @_;
    my $tag = $o{tag};
    $t->enqueue((map { [ "$tag-$_", TTWorker::report_json(id => $o{first} + $_) ] }
                 1 .. $o{jobs}),
                [ "$tag-bad", '[]' ]);
    my $log = "$t->{dir}/$tag.log";
    open my $fh, '>', $log or die "$log: $!";
    close $fh;
    my @st = stat($o{journal} // $log);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $ENV{JOURNAL_STREAM} = "$st[0]:$st[1]";
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $log or die "$log: $!";
        exec(TTWorker::binary(), 'run', '--drain', '--batch-size', '100',
             '--dsn', $t->dsn, @{ $o{args} || [] }) or die "exec: $!";
    }
    waitpid($pid, 0);
    is $? >> 8, 0, "$tag: drain exits 0";
    open $fh, '<', $log or die "$log: $!";
    local $/;
    return scalar <$fh>;
}

subtest 'default level: one summary line per batch, no line per done job' => sub {
    my $log = drain_logged(tag => 'sum', first => 100, jobs => 20,
                           journal => '/dev/null');
    like $log, qr/^ts=\S+ level=info worker=\S+ event=batch jobs=21 done=20 retried=0 dead=1 released=0 ms=\d+\.\d$/m,
        'the batch line counts done and dead jobs and the time it took';
    unlike $log, qr/outcome=done/, 'no line per done job at info';
    like $log, qr/level=error .*outcome=dead/, 'the dead job still has its own error line';
    unlike $log, qr/^</m, 'no priority prefixes: stderr is not the journal';
};

subtest '--log-level debug adds the per-job lines' => sub {
    my $log = drain_logged(tag => 'dbg', first => 200, jobs => 5,
                           journal => '/dev/null', args => [ '--log-level', 'debug' ]);
    is scalar(() = $log =~ /level=debug .*outcome=done/g), 5, 'a debug line per done job';
    like $log, qr/event=batch jobs=6 done=5 retried=0 dead=1/, 'and the summary';
};

subtest 'stderr is the journal: each line starts with its priority' => sub {
    my $log = drain_logged(tag => 'jnl', first => 300, jobs => 3,
                           args => [ '--log-level', 'debug' ]);
    my @lines = split /\n/, $log;
    ok @lines > 3, scalar(@lines) . ' lines';
    my %want = (debug => '<7>', info => '<6>', warn => '<4>', error => '<3>');
    my @bad = grep { !/^(<\d>)ts=\S+ level=(\w+) / || $want{$2} ne $1 } @lines;
    is_deeply \@bad, [], 'every line: <7> debug, <6> info, <4> warn, <3> error';
    like $log, qr/^<3>ts=\S+ level=error .*outcome=dead/m, 'the dead job at <3>';
    like $log, qr/^<6>ts=\S+ level=info .*event=batch/m, 'the summary at <6>';
    like $log, qr/^<7>ts=\S+ level=debug .*outcome=done/m, 'a done job at <7>';
};

done_testing;
