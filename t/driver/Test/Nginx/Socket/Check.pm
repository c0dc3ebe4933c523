package Test::Nginx::Socket;

# Part of t/driver's Test::Nginx::Socket, loaded by Socket.pm into its
# package (the settings below are its package variables): the
# checks of a response (status, headers, body) and of error.log.

use strict;
use warnings;

use Test::LongString ();
use Time::HiRes ();

our ($ServerPort, $NoLongString, $Sleep, $ErrLogFile, $ErrLogPos);


sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = indexed($name, $block->error_code_like, $idx, $need_array);
        like($got, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        is($got, indexed($name, $block->error_code, $idx, $need_array),
           "$name - status code ok");
    } else {
        is($got, 200, "$name - status code ok");
    }
}

sub parse_expected_headers {
    my ($text) = @_;
    my @list;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @list, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @list, [$k, $v];
        }
    }
    return @list;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $text = indexed($name, $block->response_headers, $idx,
                           $need_array);
        for my $h (parse_expected_headers($text)) {
            my ($k, $v) = @$h;
            if (!defined $v) {
                unlike($raw_headers, qr/^\s*\Q$k\E\s*:/msi,
                       "$name - header $k not present in the raw headers");
                next;
            }
            $v =~ s/\$ServerPort\b/$ServerPort/g;
            my $got = $res ? $res->header($k) : undef;
            is($got // '', $v, "$name - header $k ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $text = indexed($name, $block->response_headers_like, $idx,
                           $need_array);
        for my $h (parse_expected_headers($text)) {
            my ($k, $v) = @$h;
            my $got = $res ? $res->header($k) : undef;
            like($got // '', qr/^$v$/, "$name - header $k like ok");
        }
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = indexed($name, $block->response_body, $idx,
                               $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env($expected, $name);
        }
        my $label = "$name - response_body - response is expected "
                    . "(repeated req $rep, req $idx)";
        if (ref $expected) {
            like($content, $expected,
                 "$name - response_body - like (repeated req $rep, req $idx)");
        } elsif ($NoLongString) {
            is($content, $expected, $label);
        } else {
            Test::LongString::is_string($content, $expected, $label);
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = indexed($name, $like ? $block->response_body_like
                                       : $block->response_body_unlike,
                          $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//gs;
        my $type = $like ? 'like' : 'unlike';
        my $label = "$name - response_body_$type - response is expected "
                    . "($summary)";
        if ($like) {
            like($content, qr/$pat/s, $label);
        } else {
            unlike($content, qr/$pat/s, $label);
        }
    }
}

sub error_log_lines {
    Time::HiRes::sleep($Sleep * 3);
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in;
    close $in;
    return \@lines;
}

sub fmt_str {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub patterns_of {
    my ($pats) = @_;
    return [grep { length } split /\n+/, $pats] if !ref $pats;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pat = $block->grep_error_log;
    if (defined $grep_pat) {
        $grep_pat = $grep_pat->[$rep] if ref $grep_pat eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- "
                 . "grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $expected = expand_env($expected, $name);

        $lines ||= error_log_lines();
        my $matched = '';
        for my $line (@$lines) {
            my $m;
            if (ref $grep_pat) {
                $m = $& if $line =~ $grep_pat;
            } elsif (index($line, $grep_pat) >= 0) {
                $m = $grep_pat;
            }
            $matched .= "$m\n" if defined $m && $m !~ /\n/;
        }
        my $label = "$name - grep_error_log_out (req $rep)";
        if (ref $expected eq 'Regexp') {
            like($matched, $expected, $label);
        } elsif ($NoLongString) {
            is($matched, $expected, $label);
        } else {
            Test::LongString::is_string($matched, $expected, $label);
        }

    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- "
                 . "grep_error_log_out is defined");
    }

    if (defined $block->error_log) {
        my $pats = patterns_of($block->error_log);
        $lines ||= error_log_lines();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat;
                if (line_matches($line, $pat)) {
                    pass("$name - pattern \"$pat\" matches a line in "
                         . "error.log (req $rep)");
                    undef $pat;
                }
            }
        }
        for my $pat (@$pats) {
            next unless defined $pat;
            fail("$name - pattern \"$pat\" should match a line in "
                 . "error.log (req $rep)");
        }
    }

    if (defined $block->no_error_log) {
        my $pats = patterns_of($block->no_error_log);
        $lines ||= error_log_lines();
        my %found;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                if (line_matches($line, $pat)) {
                    $found{$pat} = 1;
                    fail("$name - pattern \"" . fmt_str($pat) . "\" should "
                         . "not match any line in error.log but matches "
                         . "line \"" . fmt_str($line) . "\" (req $rep)");
                }
            }
        }
        for my $pat (@$pats) {
            next if $found{$pat};
            pass("$name - pattern \"" . fmt_str($pat) . "\" does not match"
                 . " a line in error.log (req $rep)");
        }
    }

    # like the real one: alerts and worse are reported, not counted
    $lines ||= error_log_lines();
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/) {
            my $lvl = $1;
            my $in_checks = grep { defined && !ref && /\[\Q$lvl\E/ }
                            map { ref $_ eq 'ARRAY' ? @$_ : $_ }
                            $block->error_log, $block->no_error_log;
            warn "WARNING: $name - " . fmt_str($line) . "\n"
                unless $in_checks;
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            fail("$name - " . fmt_str($line));
        }
    }
}

1;
