package TrackTikSign;

# The one Perl signer: what a sender puts in the signature header of a
# webhook delivery, and the portal's session cookie.  The schemes are
# described in t/data/README.md, with vectors in t/data/signatures.json
# that this module and the simulator's Python signer are both checked
# against (t/helper.t, sim/tests/test_deliveries.py).  Used by
# TrackTikTest (the Perl suites), bench/ and scripts/sign.sh.
#
#   hmac_hex($alg, $key, $body)          lowercase hex HMAC (sha512|sha256)
#   standard_signature($secret, $id, $ts, $body)
#                                        Standard Webhooks v1: "v1,<base64>"
#   session_cookie($token, $key)         "tt_session=<token>.<base64url mac>"
#   read_secret($file)                   the first line, line end removed
#   main(@ARGV)                          scripts/sign.sh

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA ();
use MIME::Base64 qw(decode_base64 encode_base64);

sub hmac_hex {
    my ($alg, $key, $body) = @_;
    croak "tt_hmac_hex: key and body are required"
        unless defined $key && defined $body;
    $alg = lc($alg // '');
    $alg =~ s/^hmac[_-]?//;
    $alg =~ s/-//g;
    return Digest::SHA::hmac_sha512_hex($body, $key) if $alg eq 'sha512';
    return Digest::SHA::hmac_sha256_hex($body, $key) if $alg eq 'sha256';
    croak "tt_hmac_hex: unsupported algorithm '$alg' (sha512 or sha256)";
}

sub standard_signature {
    my ($secret, $id, $ts, $body) = @_;
    croak "tt_standard_signature: secret, id, timestamp and body needed"
        unless defined $secret && defined $id && defined $ts
               && defined $body;
    my $key = $secret;
    if ($secret =~ /^whsec_(.*)\z/s) {
        $key = decode_base64($1);
    }
    my $mac = Digest::SHA::hmac_sha256("$id.$ts.$body", $key);
    return 'v1,' . encode_base64($mac, '');
}

sub session_cookie {
    my ($token, $key) = @_;
    croak "session_cookie: token and key are required"
        unless defined $token && defined $key;
    my $mac = encode_base64(Digest::SHA::hmac_sha256($token, $key), '');
    $mac =~ tr{+/}{-_};
    $mac =~ s/=+\z//;
    return "tt_session=$token.$mac";
}

sub read_secret {
    my ($file) = @_;
    open my $fh, "<:raw", $file or die "$file: $!\n";
    my $secret = <$fh>;
    close $fh;
    die "$file is empty\n" unless defined $secret;
    $secret =~ s/\r?\n\z//;
    die "$file holds no secret on its first line\n" if $secret eq '';
    return $secret;
}

# scripts/sign.sh BODY_FILE SECRET_FILE: the TrackTik signature of a file
sub main {
    my ($body_file, $secret_file) = @_;
    my $ok = eval {
        die "usage: scripts/sign.sh BODY_FILE [SECRET_FILE]\n"
            unless defined $body_file && defined $secret_file;
        my $secret = read_secret($secret_file);
        open my $b, '<:raw', $body_file or die "$body_file: $!\n";
        local $/;
        my $body = <$b> // '';
        close $b;
        print hmac_hex('sha512', $secret, $body), "\n";
        1;
    };
    return 0 if $ok;
    print STDERR "sign.sh: $@";
    return 1;
}

1;
