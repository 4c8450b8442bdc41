#!/usr/bin/env python3
"""What a hello costs the server: starts bonusd with auth files of 1, 100 and 10,000
tokens and times ping and hello round trips on one connection (the last token listed,
so every entry is compared: they all are anyway, in constant time).

    python3 clients/python/bench_hello.py [--bonusd build/bin/bonusd] [-n 3000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bonus_client, no install

from bonus_client import wire  # noqa: E402


def start(bonusd: str, tokens: int, d: str) -> tuple[subprocess.Popen, int]:
    path = os.path.join(d, "tokens")
    with open(path, "w") as f:
        for i in range(tokens):
            f.write(f"{hashlib.sha256(f'tok{i}'.encode()).hexdigest()} reader r{i}\n")
    os.chmod(path, 0o600)
    log_path = os.path.join(d, "log")
    proc = subprocess.Popen([bonusd, "--listen", "127.0.0.1:0", "--data", os.path.join(d, "data"),
                             "--journal-segment-bytes", "8388608", "--shards", "1",
                             "--auth-file", path],
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log_path).read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(open(log_path).read())


def round_trip_us(sock: socket.socket, frame: bytes, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        sock.sendall(frame)
        head = b""
        while len(head) < 32:
            head += sock.recv(32 - len(head))
        size = int.from_bytes(head[8:12], "little")
        body = b""
        while len(body) < size:
            body += sock.recv(size - len(body))
    return (time.perf_counter() - began) / n * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bonusd", default="build/bin/bonusd")
    p.add_argument("-n", type=int, default=3000, help="round trips of each kind")
    args = p.parse_args()
    for tokens in (1, 100, 10_000):
        d = tempfile.mkdtemp(prefix="bench-hello-")
        proc, port = start(args.bonusd, tokens, d)
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hello = bytes(wire.encode_frame(wire.OP_HELLO, 0, 1,
                                            wire.encode_hello(f"tok{tokens - 1}", "bench")))
            ping = bytes(wire.encode_frame(wire.OP_PING, 0, 1, b""))
            round_trip_us(sock, hello, 200)  # warm up
            ping_us = round_trip_us(sock, ping, args.n)
            hello_us = round_trip_us(sock, hello, args.n)
            print(f"{tokens:>6} tokens: ping {ping_us:6.1f} us, hello {hello_us:6.1f} us "
                  f"round trip")
        finally:
            proc.terminate()
            proc.wait()
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
