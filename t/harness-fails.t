# The harness must be able to fail: t/driver/selftest/failing.st has wrong
# expectations of every kind; run it as a separate test file and check that
# exactly those checks fail.
use strict;
use warnings;

use IPC::Run ();
use Test::More;

my @inc = map { "-I$_" } grep { !ref } @INC;
my ($out, $err) = ('', '');
IPC::Run::run([$^X, @inc, 't/driver/selftest/failing.st'],
              \undef, \$out, \$err);
my $exit = $? >> 8;

my %status;
for my $line (split /\n/, $out) {
    $status{$2} = $1 ? 'fail' : 'pass' if $line =~ /^(not )?ok (\d+) /;
}

like($out, qr/^1\.\.9$/m, 'the failing suite ran 9 checks') or diag $out;
is($exit, 7, 'and exits with 7 failures');
for my $t (1 .. 9) {
    my $want = ($t == 4 || $t == 7) ? 'pass' : 'fail';
    is($status{$t} // 'missing', $want, "check $t: $want");
}
like($out, qr/^not ok 1 .* - status code ok/m, 'wrong status code fails');
like($out, qr/^not ok 2 .* - header X-Nope ok/m, 'missing header fails');
like($out, qr/^not ok 3 .* - response_body/m, 'wrong body fails');
like($out, qr/^not ok 5 .*should match a line in error.log/m,
     'absent error_log pattern fails');
like($out, qr/^not ok 6 .*should not match any line/m,
     'present no_error_log pattern fails');
like($out, qr/^not ok 8 .*response_body_like/m, 'body_like mismatch fails');
like($out, qr/^not ok 9 .*grep_error_log_out/m,
     'grep_error_log_out mismatch fails');

done_testing();
