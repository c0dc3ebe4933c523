package TTNotify;

# The notification suites' real parts: a local SMTP server and a webhook
# receiver that checks Standard Webhooks signatures (both Python standard
# library, t/worker/lib/tt_*.py), started per suite on free ports and
# stopped at the end; and `notify run --drain` pointed at them.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep time);

use TTWorker;

my $lib = dirname(__FILE__);
my @children;

# TTNotify->new($t): servers in $t's temporary directory
sub new {
    my ($class, $t) = @_;
    my $self = bless { t => $t, dir => $t->{dir} }, $class;

    $self->{mail} = "$self->{dir}/mail";
    $self->{hook} = "$self->{dir}/hook";
    make_path($self->{mail}, $self->{hook});

    $self->{secret} = 'whsec_' . encode_base64(join('', map { chr int rand 256 }
                                                         1 .. 32), '');
    $self->{secret_file} = $t->file('hook.secret', "$self->{secret}\n");
    # the receiver reads its own copy: a rotation test changes the
    # sender's file alone
    $self->{receiver_secrets} = $t->file('receiver.secrets',
                                         "$self->{secret}\n");

    $self->{smtp_port} = _start($self->{mail}, "$lib/tt_smtp_server.py",
                                $self->{mail});
    $self->{hook_port} = _start($self->{hook}, "$lib/tt_webhook_receiver.py",
                                $self->{hook}, $self->{receiver_secrets});
    $self->{hook_url} = "http://127.0.0.1:$self->{hook_port}/hooks/in";
    return $self;
}

sub _start {
    my ($dir, @cmd) = @_;
    unlink "$dir/.port";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec('python3', @cmd) or die "exec: $!";
    }
    push @children, $pid;
    my $end = time + 30;
    until (-s "$dir/.port") {
        die "$cmd[0] did not start\n" if time > $end;
        sleep 0.05;
    }
    open my $fh, '<', "$dir/.port" or die;
    my $port = <$fh>;
    chomp $port;
    return $port;
}

# the next N mails (or webhook requests) fail: fail_smtp(451, 2),
# fail_hook('drop', 1)
sub fail_smtp { my ($s, $c, $n) = @_; $s->_fail($s->{mail}, $c, $n) }
sub fail_hook { my ($s, $c, $n) = @_; $s->_fail($s->{hook}, $c, $n) }

sub _fail {
    my ($self, $dir, $code, $n) = @_;
    open my $fh, '>', "$dir/.fail.new" or die;
    print $fh "$code $n\n";
    close $fh;
    rename "$dir/.fail.new", "$dir/.fail" or die;
}

sub _files {
    my ($dir, $ext) = @_;
    opendir my $dh, $dir or die "$dir: $!";
    my @f = sort grep { /^\d+\.$ext$/ } readdir $dh;
    return map {
        open my $fh, '<', "$dir/$_" or die;
        local $/;
        scalar <$fh>;
    } @f;
}

# every mail received so far, whole (headers and body)
sub mails { _files($_[0]{mail}, 'eml') }

# every webhook delivery received so far: {id, timestamp, verified, body}
sub hooks { map { decode_json($_) } _files($_[0]{hook}, 'json') }

# a rules file (a Perl structure) in the test's directory
sub rules_file {
    my ($self, $rules, $name) = @_;
    return $self->{t}->file($name || 'rules.json',
                            JSON::PP->new->canonical->encode($rules));
}

# loads rules; dies unless it worked
sub load {
    my ($self, $rules) = @_;
    my ($rc, $out, $err) = $self->{t}->worker('notify', 'rules', 'load',
                                              $self->rules_file($rules));
    die "notify rules load failed: $err" unless $rc == 0;
    return $out;
}

# `notify run --drain` against the servers: (exit code, stdout, stderr)
sub send_due {
    my ($self, @args) = @_;
    return $self->{t}->worker('notify', 'run', '--drain',
        '--smtp-url', "smtp://127.0.0.1:$self->{smtp_port}",
        '--smtp-from', 'alerts@guards.example',
        '--portal-url', 'https://portal.guards.example/portal/',
        '--timeout-s', 3, @args);
}

END {
    my $status = $?;
    for my $pid (@children) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    $? = $status;
}

1;
