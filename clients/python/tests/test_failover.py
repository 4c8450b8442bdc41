"""The Python client with several addresses (`others`): a leader and a standby following
one JetStream stream (bonusd --log jetstream, issue 15), on a real nats-server
(/usr/sbin/nats-server, installed by scripts/setup) and real bonusd processes.

- A write sent to the standby is refused not_leader; the client moves on, and the same
  write (same id) sent again reaches the leader and is applied once.
- An address where nothing listens is passed over on connecting.
- The leader stopped: the standby takes over (its lease lapses in 1 s) and the client's
  retries of one write reach it.
- Reads at a log position: a client reading from the standby at the writer's position
  (read_at_least) sees each write the leader acknowledged; one past the log's end is
  answered position_unreached.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bonus_client import BonusError, Client, Credit, FrameError, Life  # noqa: E402
from test_client import Bonusd  # noqa: E402

NATS_SERVER = "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self):
        if not os.path.exists(NATS_SERVER):
            raise AssertionError(f"{NATS_SERVER} is missing: scripts/setup installs it")
        self.dir = tempfile.mkdtemp(prefix="bonus-nats-py-")
        self.log_path = os.path.join(self.dir, "nats.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd",
                                      self.dir], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        self.url = ""
        while time.monotonic() < deadline and not self.url:
            m = re.search(r"client connections on 127\.0\.0\.1:(\d+)",
                          Path(self.log_path).read_text())
            if m and "Server is ready" in Path(self.log_path).read_text():
                self.url = f"nats://127.0.0.1:{m.group(1)}"
            time.sleep(0.02)
        if not self.url:
            raise AssertionError(f"nats-server did not start: {Path(self.log_path).read_text()}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def credit(n: int) -> Credit:
    return Credit(seller=5, buyer=n, amount=10, life=Life.never(), id=(0x77 << 64) | n)


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.nats = NatsServer()
        common = ("--log", "jetstream", "--nats", self.nats.url, "--nats-replicas", "1",
                  "--lease-ms", "1000", "--partition-ports", "off")
        self.leader = Bonusd(*common, "--node", "a")
        self.standby = Bonusd(*common, "--node", "b")

    def tearDown(self):
        self.standby.stop()
        self.leader.stop()
        self.nats.stop()

    def test_not_leader_moves_to_the_next_address(self):
        with Client("127.0.0.1", self.standby.port, 10.0,
                    others=[f"127.0.0.1:{self.leader.port}"]) as c:
            self.assertEqual(c.admin_status().node_state, "standby")
            with self.assertRaises(BonusError) as refused:
                c.write(credit(1))
            self.assertEqual(refused.exception.error, FrameError.not_leader)
            self.assertIn(f"the leader is at 127.0.0.1:{self.leader.port}",
                          refused.exception.message)
            self.assertTrue(c.write(credit(1)).ok)
            self.assertEqual(c.admin_status().node_state, "leader")
            self.assertEqual(c.balance(5, 1).available, 10)

    def test_an_address_nothing_listens_on_is_passed_over(self):
        with Client("127.0.0.1", free_port(), 10.0,
                    others=[f"127.0.0.1:{self.leader.port}"]) as c:
            self.assertTrue(c.write(credit(2)).ok)

    def test_the_standby_takes_over_when_the_leader_stops(self):
        with Client("127.0.0.1", self.leader.port, 10.0,
                    others=[f"127.0.0.1:{self.standby.port}"]) as c:
            self.assertTrue(c.write(credit(3)).ok)
            self.leader.proc.kill()  # SIGKILL: the lease lapses on its own
            deadline = time.monotonic() + 20
            result = None
            while result is None and time.monotonic() < deadline:
                try:
                    result = c.write(credit(4))
                except BonusError:
                    time.sleep(0.1)
            self.assertIsNotNone(result, "no leader took over within 20 s")
            self.assertTrue(result.ok)
            self.assertEqual(c.balance(5, 3).available, 10)  # the old leader's write is there
            self.assertEqual(c.balance(5, 4).available, 10)

    def test_a_standby_read_at_the_writers_position_sees_the_write(self):
        with Client("127.0.0.1", self.leader.port, 10.0, read_your_writes=True) as writer, \
                Client("127.0.0.1", self.standby.port, 10.0) as reader:
            for n in range(1, 101):
                self.assertTrue(writer.write(credit(1000 + n)).ok)
                self.assertGreater(writer.position, 0)
                reader.read_at_least(writer.position)
                self.assertEqual(reader.balance(5, 1000 + n).available, 10, f"buyer {n}")
                self.assertGreaterEqual(reader.position, writer.position)
            reader.read_at_least(writer.position + 1_000_000)
            with self.assertRaises(BonusError) as unreached:
                reader.balance(5, 1001)
            self.assertEqual(unreached.exception.error, FrameError.position_unreached)
            with self.assertRaises(ValueError):
                reader.read_at_least(-1)

    def test_forget_node_refuses_a_running_node_and_unknown_names(self):
        with Client("127.0.0.1", self.leader.port, 10.0) as c:
            time.sleep(1.5)  # the standby has reported its position
            status = c.forget_node("b")
            self.assertFalse(status.ok)
            self.assertIn("it is running", status.message)
            status = c.forget_node("nobody")
            self.assertFalse(status.ok)
            self.assertIn("no node nobody", status.message)
            with self.assertRaises(ValueError):
                c.forget_node("two words")

    def test_bad_other_address_is_refused(self):
        with self.assertRaises(ValueError):
            Client("127.0.0.1", self.leader.port, others=["nonsense"], connect=False)


if __name__ == "__main__":
    unittest.main()
