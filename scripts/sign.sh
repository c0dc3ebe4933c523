#!/usr/bin/env bash
# Print the TrackTik webhook signature of a file: lowercase hex
# HMAC-SHA512(secret, raw file bytes), the secret being the first line of
# the secret file (default .run/tracktik_webhook.secret).  The signer is
# t/helper/TrackTikSign.pm; the scheme is described in t/data/README.md.
#
# Usage: scripts/sign.sh BODY_FILE [SECRET_FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
body=${1:?usage: scripts/sign.sh BODY_FILE [SECRET_FILE]}
secret_file=${2:-${TT_RUN_DIR:-$here/../.run}/tracktik_webhook.secret}
exec perl -I "$here/../t/helper" -MTrackTikSign \
    -e 'exit TrackTikSign::main(@ARGV)' "$body" "$secret_file"
