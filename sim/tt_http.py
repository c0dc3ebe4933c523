"""Small helpers shared by the simulator's server and delivery sender."""

import json


def php_json(obj):
    """Encode like PHP's json_encode, which TrackTik's API uses: compact,
    non-ASCII as \\uXXXX and forward slashes escaped as \\/."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def parse_rate(text):
    """'5', '5/s', '0.5/s', '30/min', '120/h' -> events per second."""
    text = str(text).strip().lower()
    per = 1.0
    if "/" in text:
        text, unit = text.split("/", 1)
        per = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
               "minute": 60.0, "h": 3600.0, "hour": 3600.0}.get(unit.strip())
        if per is None:
            raise ValueError("unknown rate unit %r (use /s, /min or /h)" % unit)
    value = float(text)
    if value < 0:
        raise ValueError("rate must not be negative")
    return value / per


def read_secret(path):
    """The first line of a secret file without its line ending (the same
    rule as scripts/sign.sh; the nginx side accepts any line)."""
    with open(path, "rb") as f:
        first = f.readline()
    if first.endswith(b"\n"):
        first = first[:-1]
    if first.endswith(b"\r"):
        first = first[:-1]
    if not first:
        raise ValueError("secret file %s holds no secret on its first line"
                         % path)
    return first
