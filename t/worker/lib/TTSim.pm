package TTSim;

# The TrackTik simulator for the worker's API client tests: started on a
# free port (its first stdout line names the URL), driven through its
# admin API (/__sim/...), stopped at the end.  See sim/README.md.

use strict;
use warnings;

use HTTP::Tiny;
use IPC::Run qw(run start timeout);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $json = JSON::PP->new->canonical;
my @live;

# TTSim->new(repo => $repo, args => ['--access-token-ttl', 60])
sub new {
    my ($class, %o) = @_;
    my ($out, $err) = ('', '');
    my @cmd = ('python3', "$o{repo}/sim/tracktik_sim.py", '--port', '0',
               '--quiet', '--history', '20', @{ $o{args} || [] });
    my $h = start(\@cmd, \undef, \$out, \$err);
    my $end = time + 60;
    while ($out !~ /\n/ && time < $end) {
        $h->pump_nb;
        sleep 0.05;
    }
    my ($url) = $out =~ m{listening on (http://[\d.]+:\d+)};
    BAIL_OUT("the simulator did not start: $err$out") unless $url;
    my $self = bless { h => $h, url => $url, out => \$out, err => \$err,
                       http => HTTP::Tiny->new(timeout => 60) }, $class;
    push @live, $self;
    return $self;
}

sub url { $_[0]{url} }

sub _call {
    my ($self, $method, $path, $body, $headers) = @_;
    my %opt = (headers => { 'Content-Type' => 'application/json',
                            %{ $headers || {} } });
    $opt{content} = ref $body ? $json->encode($body) : $body
        if defined $body;
    my $r = $self->{http}->request($method, "$self->{url}$path", \%opt);
    my $data = eval { $json->decode($r->{content}) };
    return wantarray ? ($r->{status}, $data, $r) : $data;
}

sub admin { my $self = shift; return $self->_call(@_) }

sub state { $_[0]->_call('GET', '/__sim/state') }

sub counter {
    my ($self, $name) = @_;
    return $self->state->{counters}{$name} // 0;
}

# requests the simulator answered for a route ("GET /rest/v1/reports")
# since the state $before ($sim->state taken earlier)
sub asked {
    my ($self, $before, $route) = @_;
    return ($self->state->{requests}{$route} // 0)
           - ($before->{requests}{$route} // 0);
}

sub config { $_[0]->_call('POST', '/__sim/config', $_[1]) }

# deliveries sent where nothing listens (suites that lose them on purpose
# and recover them by a pull); the secret is a file of TTWorker $t
sub deliver_nowhere {
    my ($self, $t) = @_;
    my $secret = $t->file('webhook.secret', "not-used-deliveries-dropped\n");
    return $self->config({ deliver_url => 'http://127.0.0.1:9/webhooks/'
                                          . 'tracktik',
                           secret_file => $secret });
}

sub faults { $_[0]->_call('PUT', '/__sim/faults', { rules => $_[1] }) }

# the simulator's demo OAuth client and API user (sim/README.md)
our %DEMO = (client_id => 'demo', client_secret => 'demo-secret',
             username => 'api', password => 'api-password');

# an access token of the test's own (password grant), for reading data
sub token {
    my $self = shift;
    return $self->{token} if $self->{token};
    my $d = $self->_call('POST', '/rest/oauth2/access_token',
        "grant_type=password&client_id=$DEMO{client_id}"
        . "&client_secret=$DEMO{client_secret}"
        . "&username=$DEMO{username}&password=$DEMO{password}",
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    return $self->{token} = $d->{access_token};
}

# `tracktik-worker auth login` to the simulator as its demo API user, for
# the database of TTWorker $t: (exit code, stdout, stderr)
sub worker_login {
    my ($self, $t) = @_;
    my $secret_file = $t->file('client.secret', "$DEMO{client_secret}\n");
    my ($out, $err) = ('', '');
    run([ TTWorker::binary(), 'auth', 'login', '--url', $self->{url},
          '--client-id', $DEMO{client_id}, '--client-secret-file',
          $secret_file, '--username', $DEMO{username}, '--password-stdin',
          '--dsn', $t->dsn ], \"$DEMO{password}\n", \$out, \$err,
        timeout(180));
    return ($? >> 8, $out, $err);
}

# GET /rest/v1/... as the test's own session
sub get {
    my ($self, $path) = @_;
    my ($status, $d) = $self->_call('GET', $path, undef,
        { Authorization => 'Bearer ' . $self->token });
    die "GET $path: HTTP $status\n" unless $status == 200;
    return $d;
}

sub stop {
    my $self = shift;
    return unless $self->{h};
    my $h = delete $self->{h};
    eval { $h->signal('TERM'); $h->finish; 1 } or eval { $h->kill_kill };
}

END {
    my $status = $?;
    $_->stop for @live;
    $? = $status;
}

1;
