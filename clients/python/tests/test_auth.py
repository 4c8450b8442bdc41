"""The Python client's token against a real bonusd started with --auth-file: hello on every
connection, the role's operations served and the others refused with the server's words,
BONUS_TOKEN when no token= is given."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bonus_client without PYTHONPATH
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bonus_client import BonusError, Client, Code, Credit, FrameError  # noqa: E402
from test_client import Bonusd  # noqa: E402

SERVER: Bonusd | None = None
AUTH_DIR: tempfile.TemporaryDirectory | None = None


def line(token: str, role: str, name: str) -> str:
    return f"{hashlib.sha256(token.encode()).hexdigest()} {role} {name}\n"


def setUpModule():
    global SERVER, AUTH_DIR
    AUTH_DIR = tempfile.TemporaryDirectory(prefix="bonus-py-auth-")
    path = os.path.join(AUTH_DIR.name, "tokens")
    with open(path, "w") as f:
        f.write(line("py-batch", "batch", "py-loader") + line("py-reader", "reader", "py-dash"))
    os.chmod(path, 0o600)
    SERVER = Bonusd("--auth-file", path)


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()
    if AUTH_DIR is not None:
        AUTH_DIR.cleanup()


class AuthTest(unittest.TestCase):
    def client(self, **kw) -> Client:
        return Client("127.0.0.1", SERVER.port, timeout=30.0, **kw)

    def test_token_grants_its_role_and_the_rest_is_forbidden(self):
        with self.client(token="py-batch") as c:
            self.assertEqual(c.session.role, "batch")
            self.assertEqual(c.session.name, "py-loader")
            self.assertTrue(c.session.authenticated)
            self.assertGreaterEqual(c.session.shards, 1)
            r = c.write(Credit(5, 77, 300))
            self.assertIs(r.code, Code.ok)
            self.assertEqual(c.balance(5, 77).available, 300)
            with self.assertRaises(BonusError) as e:
                c.admin_status()
            self.assertEqual(e.exception.name, "forbidden")
            self.assertIs(e.exception.error, FrameError.forbidden)
            self.assertEqual(e.exception.message, "admin: forbidden for role batch (token py-loader)")

    def test_wrong_token_is_refused_at_connect(self):
        with self.assertRaises(BonusError) as e:
            self.client(token="py-nope")
        self.assertEqual(e.exception.name, "unauthenticated")
        self.assertIn("unknown token", e.exception.message)

    def test_no_token_is_unauthenticated_with_the_operation_named(self):
        with self.client(token="") as c:
            self.assertIsNone(c.session)
            c.ping()  # ping needs no token
            with self.assertRaises(BonusError) as e:
                c.balance(5, 77)
            self.assertEqual(e.exception.name, "unauthenticated")
            self.assertTrue(e.exception.message.startswith("balance: not authenticated"))

    def test_every_reconnect_says_hello(self):
        with self.client(token="py-reader") as c:
            for _ in range(3):
                c.close()
                self.assertEqual(c.balance(5, 78).available, 0)  # reconnects, hello first
                self.assertEqual(c.session.role, "reader")

    def test_bonus_token_environment_variable(self):
        saved = os.environ.get("BONUS_TOKEN")
        os.environ["BONUS_TOKEN"] = "py-reader"
        try:
            with self.client() as c:
                self.assertEqual(c.session.role, "reader")
            with self.client(token="") as c:  # an explicit empty token: none
                self.assertIsNone(c.session)
        finally:
            if saved is None:
                del os.environ["BONUS_TOKEN"]
            else:
                os.environ["BONUS_TOKEN"] = saved


if __name__ == "__main__":
    unittest.main()
