#!/usr/bin/env python3
"""TrackTik tenant simulator: OAuth2, REST v1, billing ad-hoc items, rate
limits, gateway timeouts, fault injection and signed Events Subscription
deliveries.  Python 3 standard library only.  See sim/README.md.

    python3 sim/tracktik_sim.py [--port 8090] [--deliver-url URL
        --secret-file PATH --rate 2/s]
"""

import argparse
import datetime
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tt_delivery  # noqa: E402
import tt_server    # noqa: E402
import tt_state     # noqa: E402
import tt_tenant    # noqa: E402
from tt_http import parse_rate, read_secret  # noqa: E402


def env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tracktik_sim.py",
        description="Simulated TrackTik tenant (OAuth2 + REST v1 + "
                    "Events Subscription deliveries).")
    p.add_argument("--host", default=env("SIM_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("SIM_PORT", 8090)),
                   help="listen port (env SIM_PORT; 0 picks a free one)")
    p.add_argument("--public-url", default=env("SIM_PUBLIC_URL"),
                   help="base URL used in uri fields and photo links "
                        "(default http://HOST:PORT)")
    p.add_argument("--seed", type=int, default=int(env("SIM_SEED", 42)))
    p.add_argument("--history", type=int, default=int(env("SIM_HISTORY", 240)),
                   help="reports generated before start-up")
    p.add_argument("--anchor", default=env("SIM_ANCHOR"),
                   help="YYYY-MM-DD: history ends here (default today)")
    p.add_argument("--access-token-ttl", type=float,
                   default=float(env("SIM_ACCESS_TOKEN_TTL", 3600)))
    p.add_argument("--refresh-token-ttl", type=float,
                   default=float(env("SIM_REFRESH_TOKEN_TTL", 30 * 86400)))
    p.add_argument("--rate-limit", default=env("SIM_RATE_LIMIT", "3000/60"),
                   help="request budget REQUESTS/WINDOW_SECONDS, 0 = none")
    p.add_argument("--gateway-timeout", type=float,
                   default=float(env("SIM_GATEWAY_TIMEOUT", 30)))
    p.add_argument("--item-envelope", choices=("data", "bare"),
                   default=env("SIM_ITEM_ENVELOPE", "data"))
    p.add_argument("--deliver-url", default=env("SIM_DELIVER_URL"),
                   help="webhook URL; without it nothing is delivered")
    p.add_argument("--secret-file", default=env("SIM_SECRET_FILE"),
                   help="file whose first line is the subscription secret")
    p.add_argument("--secret-header", default=env(
        "SIM_SECRET_HEADER", "TrackTik-Subscription-Secret"))
    p.add_argument("--rate", default=env("SIM_DELIVER_RATE", "1/s"),
                   help="deliveries per second: N, N/s, N/min")
    p.add_argument("--redeliver-ratio", type=float,
                   default=float(env("SIM_REDELIVER_RATIO", 0.1)))
    p.add_argument("--update-ratio", type=float,
                   default=float(env("SIM_UPDATE_RATIO", 0.15)))
    p.add_argument("--deliver-include", default=env(
        "SIM_DELIVER_INCLUDE", tt_state.DEFAULTS["deliver_include"]))
    p.add_argument("--deliver-envelope", choices=("bare", "data", "list"),
                   default=env("SIM_DELIVER_ENVELOPE", "bare"))
    p.add_argument("--deliver-retries", type=int,
                   default=int(env("SIM_DELIVER_RETRIES", 5)))
    p.add_argument("--deliver-concurrency", type=int,
                   default=int(env("SIM_DELIVER_CONCURRENCY", 1)),
                   help="deliveries in flight at once (1 = one by one)")
    p.add_argument("--quiet", action="store_true",
                   default=env("SIM_QUIET") == "1",
                   help="no access log on stderr")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        rate = parse_rate(args.rate)
        requests, _, window = args.rate_limit.partition("/")
        requests, window = int(requests), float(window or 60)
        anchor = None
        if args.anchor:
            anchor = datetime.datetime.strptime(args.anchor, "%Y-%m-%d") \
                .replace(tzinfo=tt_tenant.UTC)
        for name in ("redeliver_ratio", "update_ratio"):
            if not 0 <= getattr(args, name) <= 1:
                raise ValueError("--%s must be within 0..1" %
                                 name.replace("_", "-"))
        if args.deliver_concurrency < 1:
            raise ValueError("--deliver-concurrency must be at least 1")
        if args.redeliver_ratio + args.update_ratio > 1:
            raise ValueError("--redeliver-ratio + --update-ratio exceed 1")
        if args.deliver_url:
            if args.secret_file:
                read_secret(args.secret_file)
            elif not os.environ.get("TRACKTIK_SIM_SECRET"):
                raise ValueError("--deliver-url needs --secret-file (or env "
                                 "TRACKTIK_SIM_SECRET)")
    except (ValueError, OSError) as e:
        sys.stderr.write("tracktik-sim: %s\n" % e)
        return 2

    tenant = tt_tenant.Tenant(seed=args.seed, anchor=anchor,
                              history=args.history)
    config = {
        "access_token_ttl": args.access_token_ttl,
        "refresh_token_ttl": args.refresh_token_ttl,
        "rate_limit_requests": requests, "rate_limit_window": window,
        "gateway_timeout": args.gateway_timeout,
        "item_envelope": args.item_envelope,
        "deliver_url": args.deliver_url, "deliver_rate": rate,
        "redeliver_ratio": args.redeliver_ratio,
        "update_ratio": args.update_ratio,
        "deliver_include": args.deliver_include,
        "deliver_envelope": args.deliver_envelope,
        "deliver_retries": args.deliver_retries,
        "deliver_concurrency": args.deliver_concurrency,
        "secret_header": args.secret_header,
        "secret_file": os.path.abspath(args.secret_file)
        if args.secret_file else None,
    }
    state = tt_state.SimState(tenant, config)
    try:
        tenant.check_includes("reports", [
            i.strip() for i in args.deliver_include.split(",") if i.strip()])
        server = tt_server.SimServer((args.host, args.port), state,
                                     quiet=args.quiet)
    except (ValueError, OSError) as e:
        sys.stderr.write("tracktik-sim: %s\n" % e)
        return 2
    host, port = server.server_address[:2]
    tenant.base_url = args.public_url or "http://%s:%d" % (host, port)
    for f in tenant.table("files").values():
        f["url"] = "%s/uploads/report-photos/%d.png" % (tenant.base_url,
                                                        f["id"])
    for rf in tenant.table("report-fields").values():
        if rf["fieldTag"] == "photo" and rf["value"]:
            rf["value"] = "%s/uploads/report-photos/%s" % (
                tenant.base_url, rf["value"].rsplit("/", 1)[1])

    deliverer = tt_delivery.Deliverer(state, args.seed, quiet=args.quiet)
    deliverer.start()

    def stop(signum, frame):
        deliverer.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print("tracktik-sim listening on http://%s:%d (seed %d, demo client "
          "demo, user api)%s" % (host, port, args.seed,
                                 "; delivering to " + args.deliver_url
                                 if args.deliver_url else ""), flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
