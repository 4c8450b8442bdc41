"""The Python client over TLS against a real bonusd started with --tls-cert (and
--tls-client-ca), with certificates from a throwaway CA this test makes with the openssl
command-line tool: tls_ca= verifies the server, a wrong CA or name is refused with the
reason, mutual TLS takes tls_cert=/tls_key=, an ssl.SSLContext of one's own works, and a
large pipelined batch and a reconnect work over TLS.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bonus_client without PYTHONPATH
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bonus_client import BonusDisconnected, Client, Code, Credit, new_id, tls_context  # noqa: E402
from test_client import Bonusd  # noqa: E402

NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


class TestCa:
    """ca signs server (localhost, 127.0.0.1) and client; other_ca is unrelated."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bonus-py-ca-"))
        self._ca("ca")
        self._ca("other-ca")
        self._leaf("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                             "extendedKeyUsage=serverAuth\n")
        self._leaf("client", "extendedKeyUsage=clientAuth\n")

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def _run(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def _ca(self, name: str) -> None:
        self._run("req", "-x509", *NEW_KEY, "-keyout", self.path(f"{name}.key"),
                  "-out", self.path(f"{name}.pem"), "-subj", f"/CN=bonus-py-{name}", "-days", "2",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _leaf(self, name: str, extensions: str) -> None:
        Path(self.path(f"{name}.ext")).write_text(extensions)
        self._run("req", *NEW_KEY, "-keyout", self.path(f"{name}.key"),
                  "-out", self.path(f"{name}.csr"), "-subj", f"/CN=bonus-py-{name}")
        self._run("x509", "-req", "-in", self.path(f"{name}.csr"), "-CA", self.path("ca.pem"),
                  "-CAkey", self.path("ca.key"), "-CAcreateserial", "-days", "2",
                  "-out", self.path(f"{name}.pem"), "-extfile", self.path(f"{name}.ext"))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


CA: TestCa | None = None


def setUpModule():
    global CA
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("no openssl command (scripts/setup installs it)")
    CA = TestCa()


def tearDownModule():
    if CA is not None:
        CA.remove()


def credit(seller: int, buyer: int, amount: int) -> Credit:
    return Credit(seller, buyer, amount, id=new_id())


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--tls-cert", CA.path("server.pem"), "--tls-key", CA.path("server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def client(self, **kw) -> Client:
        return Client("127.0.0.1", self.server.port, timeout=10.0, **kw)

    def test_writes_and_reads_over_tls(self):
        with self.client(tls_ca=CA.path("ca.pem")) as c:
            self.assertEqual(c.credit(1, 101, 300, never=True).code, Code.ok)
            self.assertEqual(c.balance(1, 101).available, 300)

    def test_a_large_pipelined_batch_over_tls(self):
        # Many TLS records in both directions, replies larger than one record.
        with self.client(tls_ca=CA.path("ca.pem"), batch=512) as c:
            results = c.write_batch([credit(2, 1000 + i, 5) for i in range(20_000)])
            self.assertEqual(len(results), 20_000)
            self.assertTrue(all(r.code == Code.ok for r in results))
            self.assertEqual(c.balance(2, 1000).available, 5)

    def test_own_ssl_context_and_server_name(self):
        context = ssl.create_default_context(cafile=CA.path("ca.pem"))
        with self.client(ssl_context=context, server_name="localhost") as c:
            c.ping()

    def test_wrong_ca_is_refused_with_the_reason(self):
        with self.assertRaises(BonusDisconnected) as caught:
            self.client(tls_ca=CA.path("other-ca.pem"))
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))

    def test_wrong_name_is_refused(self):
        with self.assertRaises(BonusDisconnected) as caught:
            self.client(tls_ca=CA.path("ca.pem"), server_name="bonus.example")
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))

    def test_plain_client_fails_cleanly(self):
        with self.assertRaises(BonusDisconnected):
            with self.client() as c:
                c.ping()

    def test_reconnects_with_a_new_handshake(self):
        with self.client(tls_ca=CA.path("ca.pem")) as c:
            c.ping()
            c._conn.close()  # as if the network broke: the next call reconnects
            c._conn.dead = BonusDisconnected("broken by the test")
            c.ping()

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            Client(connect=False, tls_cert=CA.path("client.pem"), tls_key=CA.path("client.key"))
        with self.assertRaises(ValueError):
            tls_context(CA.path("ca.pem"), cert=CA.path("client.pem"))
        with self.assertRaises(ValueError):
            Client(connect=False, tls_ca=CA.path("ca.pem"),
                   ssl_context=ssl.create_default_context())


class TlsAgainstPlainServerTest(unittest.TestCase):
    def test_tls_client_against_a_plain_server_fails_cleanly(self):
        server = Bonusd()
        try:
            began = time.monotonic()
            with self.assertRaises(BonusDisconnected) as caught:
                Client("127.0.0.1", server.port, timeout=10.0, tls_ca=CA.path("ca.pem"))
            self.assertLess(time.monotonic() - began, 5.0)
            self.assertIn("TLS handshake failed", str(caught.exception))
            with Client("127.0.0.1", server.port, timeout=10.0) as plain:
                plain.ping()
        finally:
            server.stop()


class MutualTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--tls-cert", CA.path("server.pem"), "--tls-key", CA.path("server.key"),
                            "--tls-client-ca", CA.path("ca.pem"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_client_certificate_accepted(self):
        with Client("127.0.0.1", self.server.port, timeout=10.0, tls_ca=CA.path("ca.pem"),
                    tls_cert=CA.path("client.pem"), tls_key=CA.path("client.key")) as c:
            self.assertEqual(c.credit(3, 7, 10, never=True).code, Code.ok)

    def test_no_client_certificate_refused(self):
        with self.assertRaises(BonusDisconnected):
            with Client("127.0.0.1", self.server.port, timeout=10.0,
                        tls_ca=CA.path("ca.pem")) as c:
                c.ping()  # TLS 1.3: the refusal arrives after the client's handshake


if __name__ == "__main__":
    unittest.main()
