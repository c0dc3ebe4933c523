#!/usr/bin/env bash
# Print the TrackTik webhook signature of a file: lowercase hex
# HMAC-SHA512(secret, raw file bytes), the secret being the first line of
# the secret file (default .run/tracktik_webhook.secret).
#
# Usage: scripts/sign.sh BODY_FILE [SECRET_FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
body=${1:?usage: scripts/sign.sh BODY_FILE [SECRET_FILE]}
secret_file=${2:-${TT_RUN_DIR:-$here/../.run}/tracktik_webhook.secret}
exec perl -MDigest::SHA=hmac_sha512_hex -e '
    open my $s, "<", $ARGV[1] or die "sign.sh: $ARGV[1]: $!\n";
    my $secret = <$s>;
    defined $secret or die "sign.sh: $ARGV[1] is empty\n";
    $secret =~ s/\r?\n\z//;
    open my $b, "<:raw", $ARGV[0] or die "sign.sh: $ARGV[0]: $!\n";
    local $/;
    my $body = <$b>;
    $body = "" unless defined $body;
    print hmac_sha512_hex($body, $secret), "\n";' "$body" "$secret_file"
