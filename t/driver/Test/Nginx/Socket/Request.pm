package Test::Nginx::Socket;

# Part of t/driver's Test::Nginx::Socket, loaded by Socket.pm into its
# package (the settings below are its package variables): a
# block's requests built, sent (pipelined, in pieces, with delays) and
# their responses read and parsed.

use strict;
use warnings;

use Errno ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

our ($ServerPort, $ServerAddr, $ServerName, $Timeout);


sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, $text // '') {
        next if $h =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

sub build_request {
    my ($name, $req, $more) = @_;
    my ($hdrs, $chunked) = parse_more_headers($more);

    my ($first, $body) = split /\n/, $req, 2;
    $first //= '';
    $first =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $body //= '';

    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $h = '';
    $h .= "Host: $ServerName\r\n" unless $hdrs =~ /(?:^|\n)Host:/mi;
    $h .= "Connection: close\r\n" unless $hdrs =~ /(?:^|\n)Connection/mi;
    return "$meth $url $ver\r\n$h$hdrs$len\r\n$body";
}

# a list of requests, each a list of packets to send
sub requests_of {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [[@$raw]] if ref $raw eq 'ARRAY';
        return [[$raw]];
    }

    my $req = $block->request;
    return [] unless defined $req;
    my $more = $block->more_headers // '';

    my $more_for = sub {
        my ($i) = @_;
        return $more unless ref $more eq 'ARRAY';
        bail_out("$name - --- more_headers lacks data for the ${i}th request")
            unless defined $more->[$i];
        return $more->[$i];
    };

    if (!ref $req) {
        1 while $req =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        return [[build_request($name, $req, $more_for->(0))]];
    }

    bail_out("$name - invalid ---request : MUST be string or array of "
             . "requests") unless ref $req eq 'ARRAY';

    my @list;
    my $i = 0;
    for my $one (@$req) {
        my $text = ref $one eq 'ARRAY'
                 ? join('', map { ref $_ ? $_->{value} : $_ } @$one)
                 : $one;
        push @list, [build_request($name, $text, $more_for->($i))];
        $i++;
    }
    return \@list;
}

sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;

    my $sock;
    for my $try (1 .. 20) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPort,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        Time::HiRes::sleep(0.01 * $try);
    }
    if (!$sock) {
        fail("$name - Can't connect to $ServerAddr:$ServerPort: $!");
        return undef;
    }
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $delay = $block->raw_request_middle_delay;
    my @out = @$packets;
    my $pending = shift @out;
    my $resp = '';
    my $deadline = Time::HiRes::time() + $timeout;
    my $sel = IO::Select->new($sock);
    my $write_done = 0;

    while (1) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            close $sock;
            fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            return $resp;
        }

        if (!$write_done) {
            my $n = syswrite($sock, $pending);
            if (defined $n) {
                substr($pending, 0, $n) = '';
            } elsif ($! != Errno::EAGAIN && $! != Errno::EWOULDBLOCK) {
                $write_done = 1;    # peer closed: read what it said
            }
            if (!$write_done && $pending eq '') {
                if (@out) {
                    Time::HiRes::sleep(parse_time($delay)) if $delay;
                    $pending = shift @out;
                } else {
                    $write_done = 1;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how =~ /^\s*$/;
                        shutdown($sock, $how);
                    }
                }
            }
        }

        my @r = $sel->can_read($write_done ? $left : 0.001);
        next unless @r;
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) {
            next if $! == Errno::EAGAIN || $! == Errno::EWOULDBLOCK;
            last;                   # reset: keep what we got
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;
    return $resp;
}

sub parse_response {
    my ($name, $raw) = @_;
    $raw //= '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    $res->code(undef) if defined $code && $code !~ /^\d+$/;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    return ($res, $raw_headers) if $res->code
                                   && ($res->code == 304
                                       || $res->code == 101);

    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $body = $res->content // '';

    if (defined $te && $te eq 'chunked') {
        my $decoded = '';
        my $pos = 0;
        while (1) {
            if (substr($body, $pos) !~ /\A[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/) {
                fail("$name - invalid chunked body received");
                last;
            }
            my $size = hex $1;
            $pos += length $&;
            if ($size == 0) {
                last;
            }
            if (length($body) - $pos < $size + 2) {
                fail("$name - invalid chunked data received (not enough "
                     . "octets for the data section)");
                last;
            }
            $decoded .= substr($body, $pos, $size);
            $pos += $size + 2;
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/ && length($body) > $len) {
        $res->content(substr($body, 0, $len));
    }
    return ($res, $raw_headers);
}

sub indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results"
                 . " should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = requests_of($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // $Timeout;
    my $need_array = @$reqs > 1;

    for my $idx (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$idx], $timeout);
        if (!defined $block->ignore_response) {
            my ($res, $raw_headers) = parse_response($name, $raw);
            check_error_code($block, $res, $idx, $need_array);
            check_response_headers($block, $res, $raw_headers, $idx,
                                   $need_array);
            check_response_body($block, $res, $idx, $rep, $need_array);
        }
        if ($idx < $#$reqs) {
            Time::HiRes::sleep(parse_time($block->wait)) if $block->wait;
            check_error_log($block, $rep);
        }
    }

    Time::HiRes::sleep(parse_time($block->wait)) if $block->wait;
    check_error_log($block, $rep);
}

1;
