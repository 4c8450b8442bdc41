#!/usr/bin/env python3
"""Mails N buyers (default 1,000,000) through the Python client against a running bonusd
and prints the wall time and credits per second.

    build/bin/bonusd --listen 127.0.0.1:7400 --data /tmp/bench-data &
    python3 clients/python/bench_mail.py --port 7400 -n 1000000

Each run uses a new campaign id (time-based) unless --campaign is given, so it credits
every buyer; run it again with the same --campaign to measure a rerun (all repeats).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bonus_client, no install

from bonus_client import US_PER_HOUR, Client  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7400)
    p.add_argument("-n", "--buyers", type=int, default=1_000_000, help="buyers to mail")
    p.add_argument("--buyer-base", type=int, default=1, help="first buyer id")
    p.add_argument("--seller", type=int, default=424242)
    p.add_argument("--campaign", type=int, default=0, help="0: a new one per run")
    p.add_argument("--amount", type=int, default=300)
    p.add_argument("--ttl-hours", type=float, default=72)
    p.add_argument("--batch", type=int, default=4096, help="credits per frame")
    p.add_argument("--window", type=int, default=8, help="frames in flight")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    a = p.parse_args()

    campaign = a.campaign or time.time_ns() // 1000
    buyers = range(a.buyer_base, a.buyer_base + a.buyers)
    last = [0.0]

    def progress(summary) -> None:
        now = time.monotonic()
        if not a.quiet and now - last[0] >= 1.0:
            last[0] = now
            print(f"  {summary.sent:>10,} answered", file=sys.stderr, flush=True)

    with Client(a.host, a.port, timeout=a.timeout) as client:
        status = client.admin_status()
        cpu0 = time.process_time()
        began = time.perf_counter()
        summary = client.mail(a.seller, campaign, a.amount, int(a.ttl_hours * US_PER_HOUR),
                              buyers, batch=a.batch, window=a.window, progress=progress)
        wall = time.perf_counter() - began
        cpu = time.process_time() - cpu0
    rate = summary.sent / wall if wall > 0 else float("inf")
    print(f"bonusd {a.host}:{a.port}: {status.shards} shards, durability {status.durability}")
    print(f"mail seller {a.seller} campaign {campaign}: {summary}")
    print(f"{summary.sent:,} credits in {wall:.2f} s wall ({cpu:.2f} s client CPU): "
          f"{rate:,.0f} credits/s (batch {a.batch}, window {a.window})")
    return 0 if summary.rejected_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
