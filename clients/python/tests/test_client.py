"""The Python client against a real bonusd: every command and query, rejection codes,
idempotent repeats, batches, frame errors, mail, the test clock.

bonusd is the binary named by $BONUSD (default build/bin/bonusd under the repository),
started with --listen 127.0.0.1:0 --data <tmpdir> --test-clock; the port is read from its
"listening on 127.0.0.1:PORT" log line.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bonus_client without PYTHONPATH

from bonus_client import (AMOUNT_ALL, TIME_NEVER, US_PER_DAY, US_PER_HOUR, US_PER_MINUTE,  # noqa: E402
                          US_PER_SECOND, Accrue, BonusDisconnected, BonusError, BonusTimeout,
                          CancelAccrual, Capture, Client, Code, ConfirmAccrual, Credit,
                          EventKind, FrameError, Hold, Life, LotOrigin, Reason, Refund, Release, Result,
                          ReverseAccrual, RevokeCampaign, SetPolicy, Spend, crc32c, mail_id,
                          mix64, new_id)
from bonus_client import wire  # noqa: E402

SOURCE = Path(__file__).resolve().parents[3]


def bonusd_path() -> str:
    path = os.environ.get("BONUSD", "build/bin/bonusd")
    if not os.path.isabs(path) and not os.path.exists(path):
        path = str(SOURCE / path)
    return path


class Bonusd:
    """A bonusd process on an ephemeral port with its own data directory."""

    def __init__(self, *args: str):
        self.dir = tempfile.mkdtemp(prefix="bonusd-py-")
        self.log_path = os.path.join(self.dir, "bonusd.log")
        data = os.path.join(self.dir, "data")
        exe = bonusd_path()
        if not os.path.exists(exe):
            raise unittest.SkipTest(f"no bonusd at {exe} (set BONUSD)")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--data", data, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.port = 0
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", Path(self.log_path).read_text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not self.port:
            self.stop()
            raise RuntimeError(f"bonusd did not start: {Path(self.log_path).read_text()}")

    def client(self, **kw) -> Client:
        return Client("127.0.0.1", self.port, **{"timeout": 30.0, **kw})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SERVER: Bonusd | None = None
_ids = itertools.count(1_000)


def fresh() -> int:
    """A seller, buyer, order or campaign id no other test uses."""
    return next(_ids)


def setUpModule():
    global SERVER
    SERVER = Bonusd("--test-clock", "--shards", "2")


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class LedgerTest(unittest.TestCase):
    def setUp(self):
        self.c = SERVER.client()

    def tearDown(self):
        self.c.close()

    def now(self) -> int:
        return self.c.admin_status().ledger_time_us

    def assertCode(self, result: Result, code: Code, amount: int | None = None,
                   aux: int | None = None):
        self.assertIsInstance(result.code, Code)
        self.assertIs(result.code, code, str(result))
        if amount is not None:
            self.assertEqual(result.amount, amount, str(result))
        if aux is not None:
            self.assertEqual(result.aux, aux, str(result))


class OperationsTest(LedgerTest):
    def test_ping_status_audit(self):
        self.assertGreater(self.c.ping(), 0)
        s = self.c.admin_status()
        self.assertTrue(s.ok)
        self.assertTrue(s.test_clock)
        self.assertEqual(s.shards, 2)
        self.assertEqual(s.durability, "fsync")
        self.assertGreater(s.ledger_time_us, 1_600_000_000 * US_PER_SECOND)
        self.assertTrue(self.c.audit().ok, self.c.audit().message)
        checkpoint = self.c.checkpoint()
        self.assertTrue(checkpoint.ok, checkpoint.message)
        self.assertIn("checkpoint at position", checkpoint.message)
        self.assertGreater(self.c.admin_status().checkpoint_position, 0)

    def test_context_manager_and_reconnect(self):
        with SERVER.client() as c:
            c.ping()
        c.ping()  # closed by __exit__: the next call reconnects
        c.close()


class CreditTest(LedgerTest):
    def test_credit_and_balance(self):
        s, b, camp = fresh(), fresh(), fresh()
        before = self.now()
        r = self.c.credit(s, b, 300, ttl_us=US_PER_DAY, campaign=camp, reason=Reason.gift)
        self.assertCode(r, Code.ok, 300, 0)
        self.assertTrue(r.ok)
        self.assertFalse(r.repeat or r.capped)
        a = self.c.balance(s, b, with_lots=True)
        self.assertEqual((a.seller, a.buyer, a.exists, a.available, a.held, a.pending, a.debt),
                         (s, b, True, 300, 0, 0, 0))
        self.assertEqual(a.next_expiry_amount, 300)
        self.assertGreaterEqual(a.next_expiry_us, before + US_PER_DAY)
        self.assertEqual(len(a.lots), 1)
        lot = a.lots[0]
        self.assertEqual((lot.amount, lot.origin, lot.origin_id), (300, LotOrigin.campaign, camp))
        self.assertEqual(lot.expires_at_us, a.next_expiry_us)
        self.assertIsNone(self.c.balance(s, b).lots)  # without with_lots

    def test_missing_account(self):
        a = self.c.balance(fresh(), fresh())
        self.assertFalse(a.exists)
        self.assertEqual((a.available, a.next_expiry_us, a.next_expiry), (0, TIME_NEVER, None))

    def test_life_forms(self):
        s, b = fresh(), fresh()
        now = self.now()
        self.assertCode(self.c.credit(s, b, 10, expires_at_us=now - 1), Code.expiry_in_past)
        self.assertCode(self.c.credit(s, b, 10, ttl_us=0), Code.invalid_expiry)
        at = now + 10 * US_PER_DAY
        self.assertCode(self.c.credit(s, b, 10, expires_at_us=at), Code.ok, 10)
        self.assertCode(self.c.credit(s, b, 20, never=True), Code.ok, 20)
        self.assertCode(self.c.credit(s, b, 30, ttl_us=US_PER_HOUR), Code.ok, 30)
        self.assertCode(self.c.credit(s, b, 40), Code.ok, 40)  # the seller's default: 365 days
        lots = self.c.balance(s, b, with_lots=True).lots
        self.assertEqual([lot.amount for lot in lots], [30, 10, 40, 20])  # soonest first
        self.assertEqual(lots[1].expires_at_us, at)
        self.assertEqual(lots[3].expires_at_us, TIME_NEVER)
        self.assertAlmostEqual(lots[2].expires_at_us - now, 365 * US_PER_DAY,
                               delta=10 * US_PER_MINUTE)
        with self.assertRaises(ValueError):
            self.c.credit(s, b, 10, ttl_us=5, never=True)

    def test_amount_and_id_checks(self):
        s, b = fresh(), fresh()
        self.assertCode(self.c.credit(s, b, 0), Code.zero_amount)
        self.assertCode(self.c.credit(s, b, 10**9 + 1), Code.overflow)
        self.assertCode(self.c.credit(s, b, 5, id=0), Code.id_zero)
        self.assertFalse(self.c.balance(s, b).exists)  # rejected commands create nothing

    def test_idempotent_repeat(self):
        s, b, i = fresh(), fresh(), new_id()
        first = self.c.credit(s, b, 100, id=i)
        self.assertCode(first, Code.ok, 100)
        self.assertFalse(first.repeat)
        again = self.c.credit(s, b, 100, id=i)
        self.assertCode(again, Code.ok, 100)
        self.assertTrue(again.repeat)
        self.assertEqual(self.c.balance(s, b).available, 100)
        self.assertCode(self.c.credit(s, b, 101, id=i), Code.id_reused)
        self.assertCode(self.c.capture(fresh(), id=i), Code.id_reused)  # another kind too
        self.assertEqual(self.c.balance(s, b).available, 100)

    def test_account_lots_full(self):
        s, b = fresh(), fresh()
        results = self.c.credit_batch([Credit(s, b, 1, life=Life.never()) for _ in range(4097)])
        self.assertTrue(all(r.ok for r in results[:4096]))
        self.assertCode(results[4096], Code.account_lots_full)


class CheckoutTest(LedgerTest):
    def test_hold_capture_release_refund(self):
        s, b = fresh(), fresh()
        goods = 100_000  # 1,000 roubles: the default cap is 990 bonuses
        self.c.credit(s, b, 1000, never=True)
        o1, o2, o3, o4, o5 = (fresh() for _ in range(5))
        self.assertCode(self.c.hold(o1, s, b, 300, goods), Code.ok, 300)
        a = self.c.balance(s, b)
        self.assertEqual((a.available, a.held), (700, 300))
        self.assertCode(self.c.capture(o1, 200), Code.ok, 200, 100)  # the rest released
        a = self.c.balance(s, b)
        self.assertEqual((a.available, a.held), (800, 0))
        self.assertCode(self.c.capture(o1), Code.order_already_captured)
        self.assertCode(self.c.release(o1), Code.order_already_captured)
        self.assertCode(self.c.hold(o1, s, b, 1, goods), Code.order_exists)

        self.assertCode(self.c.hold(o2, s, b, 100, goods), Code.ok, 100)
        self.assertCode(self.c.release(o2), Code.ok, 100)
        self.assertCode(self.c.release(o2), Code.order_released)
        self.assertCode(self.c.capture(o2), Code.order_released)
        self.assertCode(self.c.refund(o2), Code.order_not_captured)

        self.assertCode(self.c.hold(o3, s, b, 991, goods), Code.over_spend_cap)
        self.assertCode(self.c.hold(o3, s, b, 900, 10**6), Code.insufficient_bonuses)
        self.assertCode(self.c.hold(o3, s, b, 10, goods, timeout_us=-1), Code.invalid_timeout)
        self.assertCode(self.c.hold(o3, s, b, 10, goods, timeout_us=31 * US_PER_DAY),
                        Code.invalid_timeout)
        self.assertCode(self.c.capture(fresh()), Code.unknown_order)
        self.assertCode(self.c.release(fresh()), Code.unknown_order)

        self.assertCode(self.c.hold(o4, s, b, 100, goods), Code.ok)
        self.assertCode(self.c.capture(o4, 200), Code.capture_exceeds_hold)
        self.assertCode(self.c.capture(o4), Code.ok, 100, 0)

        self.assertCode(self.c.refund(o1, 50), Code.ok, 50)
        self.assertCode(self.c.refund(o1, 500), Code.refund_exceeds_captured)
        self.assertCode(self.c.refund(o1), Code.ok, 150)  # all the rest
        self.assertCode(self.c.refund(o1), Code.refund_exceeds_captured)

        self.assertCode(self.c.spend(o5, s, b, 100, goods), Code.ok, 100)
        self.assertCode(self.c.spend(o5, s, b, 100, goods), Code.order_exists)
        self.assertCode(self.c.refund(o5), Code.ok, 100)
        self.assertCode(self.c.refund(fresh()), Code.unknown_order)
        self.assertEqual(self.c.balance(s, b).available, 900)  # 1000 - 100 (o4)
        st = self.c.seller_stats(s)
        self.assertEqual((st.issued, st.spent, st.refunded, st.held, st.outstanding),
                         (1000, 400, 300, 0, 900))
        self.assertTrue(self.c.audit().ok)

    def test_amount_zero_is_rejected_and_none_is_all(self):
        # Regression: capture(order, 0) used to capture the whole hold, refund(order, 0)
        # to refund everything. 0 is zero_amount now and changes nothing; None is "all".
        s, b = fresh(), fresh()
        goods = 100_000
        self.c.credit(s, b, 1000, never=True)
        o1, o2 = fresh(), fresh()
        self.assertCode(self.c.hold(o1, s, b, 300, goods), Code.ok, 300)
        self.assertCode(self.c.capture(o1, 0), Code.zero_amount)
        a = self.c.balance(s, b)
        self.assertEqual((a.available, a.held), (700, 300))  # the hold is untouched
        self.assertCode(self.c.capture_batch([Capture(o1, 0)])[0], Code.zero_amount)
        self.assertCode(self.c.capture(o1, None), Code.ok, 300, 0)  # None: all of it

        self.assertCode(self.c.refund(o1, 0), Code.zero_amount)
        self.assertEqual(self.c.seller_stats(s).refunded, 0)
        self.assertCode(self.c.refund(o1, 100), Code.ok, 100)
        self.assertCode(self.c.refund_batch([Refund(o1, 0)])[0], Code.zero_amount)
        self.assertCode(self.c.refund(o1), Code.ok, 200)  # left out: all that is left
        self.assertEqual(self.c.balance(s, b).available, 1000)

        self.assertCode(self.c.hold(o2, s, b, 50, goods), Code.ok, 50)
        self.assertCode(self.c.capture_batch([Capture(o2)])[0], Code.ok, 50, 0)
        self.assertCode(self.c.refund_batch([Refund(o2, None)])[0], Code.ok, 50)
        self.assertCode(self.c.credit(s, b, AMOUNT_ALL), Code.overflow)  # "all" only there
        self.assertTrue(self.c.audit().ok)

    def test_accruals_and_debt(self):
        s, b = fresh(), fresh()
        a1, a2, o = fresh(), fresh(), fresh()
        self.assertCode(self.c.accrue(a1, s, b, 40, ttl_us=30 * US_PER_DAY), Code.ok, 40)
        self.assertEqual(self.c.balance(s, b).pending, 40)
        self.assertCode(self.c.accrue(a1, s, b, 40), Code.order_exists)
        self.assertCode(self.c.accrue(fresh(), s, b, 5, expires_at_us=self.now() + US_PER_DAY),
                        Code.invalid_expiry)
        self.assertCode(self.c.reverse_accrual(a1), Code.accrual_not_confirmed)
        self.assertCode(self.c.confirm_accrual(a1), Code.ok, 40, 0)
        a = self.c.balance(s, b, with_lots=True)
        self.assertEqual((a.available, a.pending), (40, 0))
        self.assertEqual((a.lots[0].origin, a.lots[0].origin_id), (LotOrigin.order, a1))
        self.assertCode(self.c.confirm_accrual(a1), Code.accrual_already_confirmed)
        self.assertCode(self.c.cancel_accrual(a1), Code.accrual_already_confirmed)

        self.assertCode(self.c.accrue(a2, s, b, 30, never=True), Code.ok)
        self.assertCode(self.c.cancel_accrual(a2), Code.ok, 30)
        self.assertCode(self.c.confirm_accrual(a2), Code.accrual_cancelled)
        self.assertCode(self.c.reverse_accrual(a2), Code.accrual_cancelled)
        self.assertCode(self.c.confirm_accrual(fresh()), Code.unknown_order)

        self.assertCode(self.c.spend(o, s, b, 40, 100_000), Code.ok, 40)
        self.assertCode(self.c.reverse_accrual(a1), Code.ok, 40, 40)  # all of it is debt
        self.assertEqual(self.c.balance(s, b).debt, 40)
        self.assertCode(self.c.reverse_accrual(a1), Code.accrual_already_reversed)
        self.assertCode(self.c.credit(s, b, 100), Code.ok, 100, 40)  # repays the debt first
        a = self.c.balance(s, b)
        self.assertEqual((a.available, a.debt), (60, 0))
        st = self.c.seller_stats(s)
        self.assertEqual((st.issued, st.accrued, st.spent, st.reversed, st.debt, st.outstanding),
                         (140, 40, 40, 40, 0, 60))

    def test_policy_and_caps(self):
        s, b = fresh(), fresh()
        self.assertCode(self.c.set_policy(s), Code.invalid_policy)  # no field named
        self.assertCode(self.c.set_policy(s, spend_share_bp=10_001), Code.invalid_policy)
        self.assertCode(self.c.set_policy(s, spend_share_bp=5000, balance_max=1000), Code.ok)
        self.assertCode(self.c.credit(s, b, 800), Code.ok, 800)
        r = self.c.credit(s, b, 500)
        self.assertCode(r, Code.ok, 200)
        self.assertTrue(r.capped)
        self.assertEqual(r.flags & Result.CAPPED_BALANCE, Result.CAPPED_BALANCE)
        [line] = self.c.cart(b, [(s, 100_000)])
        self.assertEqual((line.available, line.spendable), (1000, 500))  # 50 % of 1,000 roubles
        self.assertCode(self.c.hold(fresh(), s, b, 501, 100_000), Code.over_spend_cap)

        s2 = fresh()
        self.assertCode(self.c.set_policy(s2, earn_month_max=300), Code.ok)
        self.assertCode(self.c.credit(s2, b, 200), Code.ok, 200)
        r = self.c.credit(s2, b, 200)
        self.assertCode(r, Code.ok, 100)
        self.assertEqual(r.flags & Result.CAPPED_EARN, Result.CAPPED_EARN)

        s3 = fresh()
        self.assertCode(self.c.set_policy(s3, lot_life_us=US_PER_HOUR), Code.ok)
        now = self.now()
        self.c.credit(s3, b, 5)
        self.assertAlmostEqual(self.c.balance(s3, b).next_expiry_us - now, US_PER_HOUR,
                               delta=US_PER_MINUTE)

    def test_rates_tiers_and_accrue_by_price(self):
        s, b = fresh(), fresh()
        p = self.c.policy(s)
        self.assertEqual((p.seller, p.rate_bp, p.tiers, p.tier_window_days), (s, 0, (), 365))
        self.assertCode(self.c.accrue(fresh(), s, b, price_kopecks=199_000), Code.invalid_price)
        self.assertCode(self.c.set_policy(s, tiers=[(100, 700)]), Code.invalid_policy)  # no rate
        self.assertCode(self.c.set_policy(s, rate_bp=500, tiers=[(1_000_000, 700), (5_000_000, 1_000)],
                                          tier_window_days=30), Code.ok)
        p = self.c.policy(s)
        self.assertEqual((p.rate_bp, p.tier_window_days, p.tiers),
                         (500, 30, ((1_000_000, 700), (5_000_000, 1_000))))
        o1 = fresh()
        # 1990.50 roubles at 5 %: 99.525 -> 99; aux is the rate used.
        self.assertCode(self.c.accrue(o1, s, b, price_kopecks=199_050), Code.ok, 99, 500)
        self.assertCode(self.c.confirm_accrual(o1), Code.ok, 99)
        o2 = fresh()  # an explicit amount with a price: the price still counts
        self.assertCode(self.c.accrue(o2, s, b, 1, price_kopecks=900_000), Code.ok, 1)
        self.assertCode(self.c.confirm_accrual(o2), Code.ok, 1)
        a = self.c.balance(s, b)
        self.assertEqual((a.tier, a.rate_bp, a.purchases_kopecks, a.next_tier_kopecks),
                         (1, 700, 1_099_050, 3_900_950))
        self.assertGreater(a.last_purchase_us, 0)
        [line, other] = self.c.cart(b, [(s, 200_000), (fresh(), 200_000)])
        self.assertEqual((line.earn, line.tier, line.rate_bp, line.earn_month_room),
                         (140, 1, 700, 30_000 - 100))
        self.assertEqual((other.earn, other.rate_bp, other.balance_room), (0, 0, 30_000))
        self.assertCode(self.c.reverse_accrual(o2), Code.ok, 1)  # the purchase goes back out
        self.assertEqual(self.c.balance(s, b).tier, 0)
        # A batch mixing accruals by price and by amount.
        results = self.c.accrue_batch([Accrue(fresh(), s, fresh(), 0, price=100_000),
                                       Accrue(fresh(), s, fresh(), 7)])
        self.assertEqual([(r.code, r.amount) for r in results], [(Code.ok, 50), (Code.ok, 7)])

    def test_segments(self):
        s, camp = fresh(), fresh()
        self.assertCode(self.c.set_policy(s, rate_bp=500), Code.ok)
        buyers = [fresh() for _ in range(5)]
        for b in buyers[:3]:
            o = fresh()
            self.assertCode(self.c.accrue(o, s, b, price_kopecks=100_000), Code.ok)
            self.assertCode(self.c.confirm_accrual(o), Code.ok)
        for b in buyers[3:]:
            self.assertCode(self.c.credit(s, b, 100, campaign=camp), Code.ok)
        self.assertCode(self.c.spend(fresh(), s, buyers[4], 10, 100_000), Code.ok)
        self.assertEqual(sorted(self.c.segment(s, bought_within_us=US_PER_DAY, limit=1)),
                         sorted(buyers[:3]))
        self.assertEqual(list(self.c.segment(s, inactive_us=US_PER_DAY)), [])
        self.assertEqual(list(self.c.segment(s, unspent_campaign=camp)), [buyers[3]])
        with self.assertRaises(ValueError):
            self.c.segment_page(s, inactive_us=1, unspent_campaign=camp)

    def test_revoke_campaign(self):
        s, camp = fresh(), fresh()
        b1, b2 = fresh(), fresh()
        self.c.credit(s, b1, 100, campaign=camp)
        self.c.credit(s, b2, 100, campaign=camp)
        self.c.credit(s, b2, 7)  # no campaign: stays
        self.assertCode(self.c.revoke_campaign(s, camp), Code.ok, 200)
        self.assertEqual(self.c.balance(s, b2).available, 7)
        self.assertCode(self.c.credit(s, b1, 5, campaign=camp), Code.campaign_revoked)
        self.assertCode(self.c.revoke_campaign(s, camp), Code.ok, 0)
        self.assertCode(self.c.revoke_campaign(s, 0), Code.invalid_campaign)
        cs = self.c.campaign_stats(s, camp)
        self.assertEqual((cs.issued, cs.expired, cs.revoked_amount, cs.recipients, cs.revoked,
                          cs.outstanding), (200, 0, 200, 2, True, 0))
        with self.assertRaises(ValueError):
            self.c.campaign_stats(s, 0)


class PartitionRoutingTest(unittest.TestCase):
    """A bonusd of its own with its metrics endpoint: the hello names a port for each of
    its two partitions, and a routing client's reads of any buyer land on that buyer's
    partition (bonus_reads_off_partition_total stays put), where a client with routing
    off has some of them served across partitions."""

    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--shards", "2", "--metrics-listen", "127.0.0.1:0")
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                      Path(cls.server.log_path).read_text())
        cls.metrics_port = int(m.group(1))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def off_partition(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            text = r.read().decode()
        m = re.search(r"^bonus_reads_off_partition_total (\S+)$", text, re.M)
        return float(m.group(1))

    def test_reads_and_writes_go_to_the_buyers_partition(self):
        seller = fresh()
        with self.server.client(partition_routing=True) as c:
            self.assertIsNone(c.session)  # no token: no hello until a request about a buyer
            buyers = [fresh() for _ in range(24)]
            self.assertEqual({mix64(b) % 2 for b in buyers}, {0, 1})
            for b in buyers:
                self.assertIs(c.credit(seller, b, 40, never=True).code, Code.ok)
            self.assertEqual(c.session.role, "admin")
            self.assertEqual(len(c.session.partition_ports), 2)
            self.assertEqual(c.session.partition_hash, "mix64-mod")
            before = self.off_partition()
            for b in buyers:
                self.assertEqual(c.balance(seller, b).available, 40)
                self.assertEqual(c.cart(b, [(seller, 10_000)])[0].available, 40)
                self.assertEqual(len(c.wallet(b)), 1)
            self.assertEqual(self.off_partition() - before, 0)
        with self.server.client(partition_routing=False) as plain:
            before = self.off_partition()
            for b in buyers:
                self.assertEqual(plain.balance(seller, b).available, 40)
            self.assertGreater(self.off_partition() - before, 0)

    def test_a_server_without_partition_ports_is_served_on_one_connection(self):
        server = Bonusd("--shards", "2", "--partition-ports", "off")
        try:
            with server.client(partition_routing=True) as c:
                b = fresh()
                self.assertIs(c.credit(7, b, 5, never=True).code, Code.ok)
                self.assertEqual(c.session.partition_ports, ())
                self.assertEqual(c.balance(7, b).available, 5)
        finally:
            server.stop()


class ReadsTest(LedgerTest):
    def test_cart_and_wallet(self):
        b = fresh()
        s1, s2, s3, s4 = fresh(), fresh(), fresh(), fresh()
        self.c.credit(s1, b, 500, ttl_us=US_PER_HOUR)
        self.c.credit(s2, b, 300, never=True)
        self.c.accrue(fresh(), s3, b, 70)
        entries = self.c.cart(b, [(s1, 100_000), (s2, 20_000), (s3, 50_000), (s4, 1_000)],
                              soon_us=2 * US_PER_HOUR)
        self.assertEqual([e.seller for e in entries], [s1, s2, s3, s4])
        e1, e2, e3, e4 = entries
        self.assertEqual((e1.available, e1.spendable, e1.expiring_soon), (500, 500, 500))
        self.assertEqual((e2.available, e2.spendable, e2.expiring_soon), (300, 198, 0))
        self.assertEqual(e2.next_expiry_us, TIME_NEVER)
        self.assertEqual((e3.available, e3.pending), (0, 70))
        self.assertEqual((e4.available, e4.spendable, e4.pending), (0, 0, 0))
        wallet = self.c.wallet(b)
        self.assertEqual([(a.seller, a.available, a.pending) for a in wallet],
                         [(s1, 500, 0), (s2, 300, 0), (s3, 0, 70)])
        self.assertTrue(all(a.lots is None for a in wallet))
        self.assertEqual(self.c.wallet(fresh()), [])

    def test_balances_in_order(self):
        s = fresh()
        buyers = [fresh() for _ in range(2500)]
        self.c.credit_batch([Credit(s, b, 1 + k % 7) for k, b in enumerate(buyers)])
        keys = [(s, b) for b in buyers] + [(s, fresh())]
        accounts = self.c.balances(keys, batch=600, window=3)
        self.assertEqual([(a.seller, a.buyer) for a in accounts], keys)
        self.assertEqual([a.available for a in accounts[:-1]], [1 + k % 7 for k in range(2500)])
        self.assertFalse(accounts[-1].exists)

    def test_balances_ask_a_repeated_key_once(self):
        # The server refuses one account twice in a request (duplicate_key); the client
        # asks each once and answers every key in order.
        s, b1, b2 = fresh(), fresh(), fresh()
        self.c.credit_batch([Credit(s, b1, 5), Credit(s, b2, 6)])
        accounts = self.c.balances([(s, b1), (s, b2), (s, b1), (s, b1)], with_lots=True)
        self.assertEqual([a.available for a in accounts], [5, 6, 5, 5])
        self.assertEqual(len(accounts[2].lots), 1)
        body = wire.encode_balance([(s, b1), (s, b1)], False)
        with self.assertRaises(BonusError) as cm:
            self.c.request(wire.OP_BALANCE, body)
        self.assertIs(cm.exception.error, FrameError.duplicate_key)
        with self.assertRaises(BonusError) as cm:
            self.c.cart(b1, [(s, 100_000), (s, 200_000)])
        self.assertIs(cm.exception.error, FrameError.duplicate_key)

    def test_expiring_follows_the_cursor(self):
        s = fresh()
        soon = [fresh() for _ in range(40)]
        later = [fresh() for _ in range(5)]
        self.c.credit_batch([Credit(s, b, 10, life=Life.ttl(US_PER_HOUR)) for b in soon])
        self.c.credit_batch([Credit(s, b, 20, life=Life.ttl(10 * US_PER_DAY)) for b in later])
        first = self.c.expiring_page(s, 2 * US_PER_HOUR, limit=7)
        self.assertLessEqual(len(first.entries), 7)
        self.assertFalse(first.done)
        self.assertIsNotNone(first.next)
        entries = list(self.c.expiring(s, 2 * US_PER_HOUR, limit=7))
        self.assertEqual(sorted(e.buyer for e in entries), sorted(soon))
        self.assertTrue(all(e.amount == 10 for e in entries))
        now = self.now()
        self.assertTrue(all(now < e.first_expiry_us <= now + US_PER_HOUR for e in entries))
        everyone = {e.buyer: e.amount for e in self.c.expiring(s, 20 * US_PER_DAY)}
        self.assertEqual(everyone, {**{b: 10 for b in soon}, **{b: 20 for b in later}})
        self.assertEqual(list(self.c.expiring(fresh(), US_PER_DAY)), [])

    def test_stats(self):
        s, camp = fresh(), fresh()
        buyers = [fresh() for _ in range(4)]
        for b in buyers:
            self.c.credit(s, b, 100, campaign=camp)
        self.c.spend(fresh(), s, buyers[0], 30, 100_000)
        self.c.spend(fresh(), s, buyers[1], 100, 100_000)
        cs = self.c.campaign_stats(s, camp)
        self.assertEqual((cs.issued, cs.spent, cs.recipients, cs.spenders, cs.outstanding),
                         (400, 130, 4, 2, 270))
        self.assertEqual(cs.conversion, 0.5)
        st = self.c.seller_stats(s)
        self.assertEqual((st.issued, st.spent, st.outstanding), (400, 130, 270))
        self.assertEqual(self.c.campaign_stats(s, fresh()).issued, 0)
        # The sales the campaign brought: each spending order's goods total, once.
        self.assertEqual((cs.sales_orders, cs.sales_kopecks), (2, 200_000))
        self.assertAlmostEqual(cs.cost_share, 130 * 100 / 200_000)
        self.c.revoke_campaign(s, camp)
        cs = self.c.campaign_stats(s, camp)
        self.assertEqual((cs.revoked, cs.revoked_amount, cs.expired), (True, 270, 0))

    def test_month_report(self):
        s = fresh()
        self.c.credit(s, fresh(), 100, reason=Reason.apology)
        self.c.credit(s, fresh(), 30, reason=200)
        b = fresh()
        self.c.credit(s, b, 50)
        self.c.spend(fresh(), s, b, 20, 100_000)
        now = self.now() + 3 * US_PER_HOUR  # the marketplace calendar is UTC+3
        month = time.strftime("%Y-%m", time.gmtime(now // US_PER_SECOND))
        m = self.c.month_report(s, month)
        self.assertEqual((m.seller, m.month), (s, month))
        self.assertEqual(m.credited, {"none": 50, "mailing": 0, "gift": 0, "apology": 100,
                                      "referral": 0, "manual": 0, "own": 30})
        self.assertEqual((m.spent, m.orders, m.orders_goods_kopecks), (20, 1, 100_000))
        self.assertAlmostEqual(m.cost_share, 0.02)
        self.assertEqual(self.c.month_report(s, "1999-01").spent, 0)
        with self.assertRaises(ValueError):
            self.c.month_report(s, "2026-13")

    def test_referral(self):
        s, a, b = fresh(), fresh(), fresh()
        rid = new_id()
        r = self.c.referral(s, a, b, 300, friend_amount=100, ttl_us=30 * US_PER_DAY, id=rid)
        self.assertCode(r, Code.ok, 300, 100)
        again = self.c.referral(s, a, b, 300, friend_amount=100, ttl_us=30 * US_PER_DAY, id=rid)
        self.assertCode(again, Code.ok, 300, 100)
        self.assertTrue(again.repeat)
        for buyer, amount in ((a, 300), (b, 100)):
            lots = self.c.balance(s, buyer, with_lots=True).lots
            self.assertEqual([(lot.amount, lot.reason) for lot in lots], [(amount, Reason.referral)])
        self.assertEqual(self.c.referral(s, a, a, 300).code, Code.invalid_referral)

    def test_credit_reason(self):
        s, b = fresh(), fresh()
        self.c.credit(s, b, 10, reason=Reason.apology, ttl_us=US_PER_DAY)
        self.c.credit(s, b, 20, reason=200, ttl_us=2 * US_PER_DAY)
        self.c.credit(s, b, 30, ttl_us=3 * US_PER_DAY)
        lots = self.c.balance(s, b, with_lots=True).lots
        self.assertEqual([(lot.amount, lot.reason) for lot in lots],
                         [(10, Reason.apology), (20, 200), (30, Reason.none)])
        for bad in (6, 15, 256):
            self.assertEqual(self.c.credit(s, b, 10, reason=bad).code, Code.invalid_reason)


class HistoryTest(LedgerTest):
    def test_statement_and_order_view(self):
        s, b, camp, order = fresh(), fresh(), fresh(), fresh()
        self.assertCode(self.c.credit(s, b, 100, campaign=camp), Code.ok)
        self.assertCode(self.c.spend(order, s, b, 30, 100_000), Code.ok)
        self.assertCode(self.c.refund(order, 10), Code.ok)
        self.assertTrue(self.c.checkpoint().ok)  # history is written before a checkpoint
        events = list(self.c.history(s, b, limit=2))
        self.assertEqual([(e.kind, e.amount, e.balance_after) for e in events],
                         [(EventKind.refunded, 10, 80), (EventKind.spent, 30, 70),
                          (EventKind.held, 30, 70), (EventKind.credited, 100, 100)])
        self.assertEqual((events[-1].ref, events[-1].ref_kind), (camp, 1))
        page = self.c.history_page(s, b, limit=1)
        self.assertFalse(page.done)
        self.assertIsNotNone(page.next)
        self.assertGreaterEqual(page.position, events[0].position)
        self.assertEqual(page.complete_from, 0)
        self.assertEqual([e.kind for e in self.c.order(order)],
                         [EventKind.held, EventKind.spent, EventKind.refunded])
        self.assertEqual(self.c.order(fresh()), [])
        self.assertEqual(list(self.c.history(s, fresh())), [])


class BatchTest(LedgerTest):
    def test_credit_batch_pipelined(self):
        s = fresh()
        commands = [Credit(s, fresh(), 10 + k % 5, life=Life.ttl(US_PER_DAY)) for k in range(10_000)]
        seen = []
        results = self.c.credit_batch(commands, batch=1000, window=4,
                                      progress=lambda done, total: seen.append((done, total)))
        self.assertEqual([r.code for r in results], [Code.ok] * 10_000)
        self.assertEqual([r.amount for r in results], [10 + k % 5 for k in range(10_000)])
        self.assertEqual(seen[-1], (10_000, 10_000))
        self.assertEqual(len(seen), 10)
        # The commands got ids when sent: sending them again repeats every one.
        again = self.c.write_batch(commands, batch=3000)
        self.assertTrue(all(r.ok and r.repeat for r in again))
        self.assertEqual(self.c.seller_stats(s).issued, sum(10 + k % 5 for k in range(10_000)))

    def test_errors_only(self):
        s = fresh()
        commands = [Credit(s, fresh(), 0 if k % 100 == 7 else 5) for k in range(3000)]
        results = self.c.write_batch(commands, errors_only=True, batch=1000)
        for k, r in enumerate(results):
            if k % 100 == 7:
                self.assertIs(r.code, Code.zero_amount)
            else:
                self.assertEqual(r, Result(Code.ok))  # no amounts with errors_only
        self.assertEqual(self.c.seller_stats(s).issued, 5 * 2970)

    def test_every_kind_in_batches(self):
        s, b = fresh(), fresh()
        self.c.credit(s, b, 10_000, never=True)
        orders = [fresh() for _ in range(20)]
        holds = self.c.hold_batch([Hold(o, s, b, 10, 100_000) for o in orders])
        self.assertTrue(all(r.ok for r in holds))
        caps = self.c.capture_batch([Capture(o) for o in orders[:10]])
        self.assertEqual([r.amount for r in caps], [10] * 10)
        self.assertTrue(all(r.ok for r in self.c.release_batch([Release(o) for o in orders[10:]])))
        self.assertTrue(all(r.ok for r in self.c.refund_batch([Refund(o, 5) for o in orders[:10]])))
        accruals = [fresh() for _ in range(6)]
        self.assertTrue(all(r.ok for r in self.c.accrue_batch(
            [Accrue(a, s, b, 3) for a in accruals])))
        self.assertTrue(all(r.ok for r in self.c.confirm_accrual_batch(
            [ConfirmAccrual(a) for a in accruals[:3]])))
        self.assertTrue(all(r.ok for r in self.c.cancel_accrual_batch(
            [CancelAccrual(a) for a in accruals[3:]])))
        self.assertTrue(all(r.ok for r in self.c.reverse_accrual_batch(
            [ReverseAccrual(a) for a in accruals[:3]])))
        self.assertTrue(all(r.ok for r in self.c.spend_batch(
            [Spend(fresh(), s, b, 1, 10_000) for _ in range(5)])))
        self.assertTrue(all(r.ok for r in self.c.revoke_campaign_batch(
            [RevokeCampaign(s, fresh()) for _ in range(3)])))
        self.assertTrue(all(r.ok for r in self.c.set_policy_batch(
            [SetPolicy.of(s, balance_max=50_000), SetPolicy.of(s, spend_share_bp=100)])))
        a = self.c.balance(s, b)
        self.assertEqual(a.available, 10_000 - 100 + 50 - 5)
        self.assertTrue(self.c.audit().ok)

    def test_one_kind_per_batch(self):
        with self.assertRaises(TypeError):
            self.c.write_batch([Credit(1, 2, 3), Capture(4)])
        with self.assertRaises(TypeError):
            self.c.credit_batch([Capture(4)])
        self.assertEqual(self.c.write_batch([]), [])

    def test_batch_too_large_is_split(self):
        # Above the server's --batch-commands-max (8,192): refused whole, split, resent.
        s = fresh()
        commands = [Credit(s, fresh(), 1) for _ in range(9000)]
        results = self.c.write_batch(commands, batch=9000)
        self.assertEqual(len(results), 9000)
        self.assertTrue(all(r.ok and not r.repeat for r in results))
        self.assertEqual(self.c.seller_stats(s).issued, 9000)


class MailTest(LedgerTest):
    def test_mail_twice_credits_once(self):
        s, camp = fresh(), fresh()
        buyers = [fresh() for _ in range(20_000)]
        seen = []
        first = self.c.mail(s, camp, 300, US_PER_DAY, iter(buyers), batch=4096, window=4,
                            progress=lambda summary: seen.append(summary.sent))
        self.assertEqual((first.sent, first.credited, first.credited_amount, first.capped,
                          first.repeats, first.rejected), (20_000, 20_000, 6_000_000, 0, 0, {}))
        self.assertEqual(sorted(seen)[-1], 20_000)
        self.assertEqual(len(seen), 5)
        second = self.c.mail(s, camp, 300, US_PER_DAY, buyers)
        self.assertEqual((second.sent, second.credited, second.repeats, second.repeat_amount),
                         (20_000, 0, 20_000, 6_000_000))
        self.assertEqual(self.c.balance(s, buyers[123]).available, 300)
        cs = self.c.campaign_stats(s, camp)
        self.assertEqual((cs.issued, cs.recipients), (6_000_000, 20_000))
        # Another body under the same ids is refused, buyer by buyer.
        third = self.c.mail(s, camp, 301, US_PER_DAY, buyers)
        self.assertEqual(third.rejected, {Code.id_reused: 20_000})
        self.assertEqual(len(third.rejected_buyers), 1000)
        self.assertEqual(third.rejected_buyers[0], (buyers[0], Code.id_reused))
        self.assertIn("repeats", str(second))

    def test_mail_ids_are_the_documented_derivation(self):
        s, camp, b = fresh(), fresh(), fresh()
        self.assertEqual(self.c.mail(s, camp, 50, US_PER_HOUR, [b]).credited, 1)
        r = self.c.credit(s, b, 50, ttl_us=US_PER_HOUR, campaign=camp, id=mail_id(s, camp, b))
        self.assertTrue(r.ok and r.repeat)  # the same id and body as mail's

    def test_mail_caps_duplicates_and_rejections(self):
        s = fresh()
        b1, b2 = fresh(), fresh()
        self.c.set_policy(s, balance_max=500)
        self.c.mail(s, fresh(), 300, None, [b1, b2])
        capped = self.c.mail(s, fresh(), 300, None, [b1, b1, b2])  # b1 twice: one repeat
        self.assertEqual((capped.credited, capped.credited_amount, capped.capped, capped.repeats),
                         (2, 400, 2, 1))
        camp = fresh()
        self.c.revoke_campaign(s, camp)
        revoked = self.c.mail(s, camp, 10, US_PER_DAY, [fresh() for _ in range(10)])
        self.assertEqual((revoked.credited, revoked.rejected), (0, {Code.campaign_revoked: 10}))
        self.assertEqual(self.c.mail(s, fresh(), 10, None, []).sent, 0)
        with self.assertRaises(ValueError):
            self.c.mail(s, 0, 10, None, [b1])  # the campaign names the mailing in its ids

    def test_interrupted_mailing_can_be_rerun(self):
        class Stop(Exception):
            pass

        def stop(summary):
            raise Stop

        s, camp = fresh(), fresh()
        buyers = range(30_000_000, 30_020_000)
        with self.assertRaises(Stop):
            self.c.mail(s, camp, 10, None, buyers, batch=1000, window=8, progress=stop)
        # Replies still in flight are dropped when they come; the connection goes on.
        self.c.ping()
        self.assertTrue(self.c.balance(s, 30_000_000).seller == s)
        rerun = self.c.mail(s, camp, 10, None, buyers, batch=1000)
        self.assertEqual(rerun.credited + rerun.repeats, 20_000)
        self.assertGreaterEqual(rerun.repeats, 1000)
        self.assertEqual(self.c.campaign_stats(s, camp).issued, 10 * 20_000)

    def test_bad_buyer_stops_the_mailing_cleanly(self):
        s, camp = fresh(), fresh()
        buyers = itertools.chain(range(10_000_000, 10_005_000), [-1], range(20_000_000, 20_000_010))
        with self.assertRaises(OverflowError):
            self.c.mail(s, camp, 10, None, buyers, batch=1000)
        # What was sent before the bad buyer is answered and applied; the client still works.
        self.assertEqual(self.c.seller_stats(s).issued, 10 * 5000)
        self.assertEqual(self.c.mail(s, camp, 10, None, range(10_000_000, 10_005_000)).repeats, 5000)


class FrameErrorTest(LedgerTest):
    def assertFrameError(self, error: FrameError, call, *args, **kw):
        with self.assertRaises(BonusError) as cm:
            call(*args, **kw)
        self.assertEqual(cm.exception.name, error.name)
        self.assertIs(cm.exception.error, error)
        return cm.exception

    def test_bad_body_crc_keeps_the_connection(self):
        body = wire.encode_balance([(1, 2)], False)
        conn = self.c._connection()
        e = self.assertFrameError(FrameError.bad_body_crc, self.c.request, wire.OP_BALANCE, body,
                                  body_crc=crc32c(body) ^ 1)
        self.assertTrue(e.message)
        self.c.ping()
        self.assertIs(self.c._connection(), conn)  # framing held: same connection

    def test_unknown_opcode_and_malformed_bodies(self):
        self.assertFrameError(FrameError.unknown_opcode, self.c.request, 99)
        self.assertFrameError(FrameError.unknown_opcode, self.c.request, wire.OP_PING,
                              flags=wire.FLAG_REPLY)
        self.assertFrameError(FrameError.malformed_body, self.c.request, wire.OP_BALANCE, b"\0" * 24)
        credit = bytearray(72)
        Credit(1, 2, 3).pack_into(credit, 0)
        wrong_table = wire.encode_write(b"ACRQ", credit, 1)  # a valid body of another table
        self.assertFrameError(FrameError.malformed_body, self.c.request, 1, wrong_table)
        empty = wire.encode_write(b"CRDQ", b"", 0)
        self.assertFrameError(FrameError.malformed_body, self.c.request, 1, empty)
        self.assertFrameError(FrameError.malformed_body, self.c.clock_advance, 0)
        big = bytearray(72 * 8193)
        for k in range(8193):
            Credit(1, fresh(), 1).pack_into(big, 72 * k)
        self.assertFrameError(FrameError.batch_too_large, self.c.request, 1,
                              wire.encode_write(b"CRDQ", big, 8193))
        self.c.ping()

    def test_framing_lost_closes_and_the_client_reconnects(self):
        good = wire.encode_frame(wire.OP_PING, 0, 4242)
        bad_header = bytearray(good)
        bad_header[20] ^= 1  # inside the request id: the header checksum fails
        bad_magic = b"XON1" + good[4:]
        too_large = wire.encode_header(wire.OP_BALANCE, 0, 777, 5 << 20, 0)  # > 4 MiB
        for raw, error, rid in ((bytes(bad_header), FrameError.bad_header_crc, 0),
                                (bad_magic, FrameError.bad_magic, 0),
                                (too_large, FrameError.frame_too_large, 777)):
            with self.subTest(error.name):
                conn = self.c._connection()
                conn.send_raw(raw, request_id=rid or None)
                with self.assertRaises(BonusError) as cm:
                    if rid:
                        _rid, op, _f, body = conn.wait({rid})
                        self.c._checked(wire.OP_BALANCE, op, body, rid)
                    else:
                        conn.wait({-1})
                self.assertIs(cm.exception.error, error)
                self.assertTrue(error.framing_lost)
                self.c.ping()  # a new connection
                self.assertIsNot(self.c._connection(), conn)


class TestClockTest(LedgerTest):
    def test_expiry_and_hold_timeout(self):
        s, b = fresh(), fresh()
        self.c.credit(s, b, 100, ttl_us=US_PER_HOUR)
        self.c.credit(s, b, 500, never=True)
        order = fresh()
        self.assertCode(self.c.hold(order, s, b, 50, 100_000, timeout_us=US_PER_SECOND), Code.ok)
        before = self.now()
        status = self.c.clock_advance(2 * US_PER_HOUR)
        self.assertTrue(status.ok)
        self.assertGreaterEqual(status.ledger_time_us, before + 2 * US_PER_HOUR)
        self.assertGreaterEqual(self.now(), before + 2 * US_PER_HOUR)
        a = self.c.balance(s, b)
        self.assertEqual((a.available, a.held), (500, 0))  # the ttl lot expired, the hold returned
        self.assertCode(self.c.capture(order), Code.hold_timed_out)
        self.assertCode(self.c.release(order), Code.hold_timed_out)
        self.assertEqual(self.c.seller_stats(s).expired, 100)
        self.assertTrue(self.c.audit().ok)

    def test_refund_and_release_report_what_expired_at_once(self):
        s, b = fresh(), fresh()
        self.c.credit(s, b, 100, ttl_us=US_PER_SECOND)
        self.c.credit(s, b, 50, never=True)
        held, spent = fresh(), fresh()
        self.assertCode(self.c.hold(held, s, b, 60, 100_000), Code.ok)    # 60 of the 1 s lot
        self.assertCode(self.c.spend(spent, s, b, 70, 100_000), Code.ok)  # its 40, then 30
        self.assertTrue(self.c.clock_advance(5 * US_PER_SECOND).ok)
        r = self.c.release(held)
        self.assertCode(r, Code.ok, 60, 0)
        self.assertEqual(r.expired, 60, str(r))
        r = self.c.refund(spent)
        self.assertCode(r, Code.ok, 70, 0)
        self.assertEqual(r.expired, 40, str(r))  # 30 went back into the lasting lot
        self.assertEqual(self.c.balance(s, b).available, 50)


class BoundsServerTest(unittest.TestCase):
    """A second bonusd without --test-clock and with tiny tables."""

    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--shards", "1", "--accounts-max", "1", "--orders-max", "1",
                            "--ids-max", "4")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_bounds_and_disabled_clock(self):
        with self.server.client() as c:
            with self.assertRaises(BonusError) as cm:
                c.clock_advance(US_PER_SECOND)
            self.assertIs(cm.exception.error, FrameError.test_clock_disabled)
            self.assertFalse(c.admin_status().test_clock)
            s = fresh()
            self.assertIs(c.credit(s, 1, 100).code, Code.ok)
            self.assertIs(c.credit(s, 2, 100).code, Code.accounts_full)
            self.assertIs(c.hold(fresh(), s, 1, 10, 100_000).code, Code.ok)
            self.assertIs(c.hold(fresh(), s, 1, 10, 100_000).code, Code.orders_full)
            # Rejected commands' ids have a table of their own: two applied so far.
            self.assertIs(c.credit(s, 1, 1).code, Code.ok)
            self.assertIs(c.credit(s, 1, 1).code, Code.ok)
            self.assertIs(c.credit(s, 1, 1).code, Code.ids_full)


class LotsPerReplyServerTest(unittest.TestCase):
    """A bonusd whose balance replies carry 4,096 lots at most."""

    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--shards", "2", "--lots-per-reply-max", "4096")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_balances_with_lots_past_the_bound_are_halved(self):
        with self.server.client() as c:
            s, buyers = fresh(), [fresh() for _ in range(3)]
            for b in buyers:  # 1,500 lots each: two fit in one reply, three do not
                c.credit_batch([Credit(s, b, 1, campaign=k + 1) for k in range(1500)])
            body = wire.encode_balance([(s, b) for b in buyers], True)
            with self.assertRaises(BonusError) as cm:
                c.request(wire.OP_BALANCE, body)
            self.assertIs(cm.exception.error, FrameError.batch_too_large)
            accounts = c.balances([(s, b) for b in buyers], with_lots=True)
            self.assertEqual([len(a.lots) for a in accounts], [1500, 1500, 1500])


class IdleServerTest(unittest.TestCase):
    """A bonusd that closes connections idle for a second."""

    @classmethod
    def setUpClass(cls):
        cls.server = Bonusd("--shards", "1", "--idle-timeout-s", "1")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_a_connection_closed_while_idle_is_replaced_before_the_next_request(self):
        with self.server.client() as c:
            c.ping()
            first = c._connection()
            deadline = time.monotonic() + 10  # until the server says it closed it
            while "--idle-timeout-s" not in Path(self.server.log_path).read_text():
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            s = fresh()
            self.assertIs(c.credit(s, 1, 100).code, Code.ok)  # on a new connection
            self.assertIsNot(c._connection(), first)


class LimitsServerTest(unittest.TestCase):
    """A bonusd of its own: the limits it changes would reach the other tests."""

    def test_limits_are_read_and_changed_on_purpose(self):
        server = Bonusd("--shards", "1", "--accounts-max", "1")
        try:
            with server.client() as c:
                self.assertEqual(c.limits().limits.accounts_max, 1)
                self.assertEqual(c.limits().limits.changes, 0)
                s = fresh()
                self.assertIs(c.credit(s, 1, 100).code, Code.ok)
                self.assertIs(c.credit(s, 2, 100).code, Code.accounts_full)
                changed = c.set_limits(accounts_max=2, id_window_us=US_PER_HOUR, id=77)
                self.assertTrue(changed.ok, changed.message)
                self.assertEqual(changed.limits_code, Code.ok)
                self.assertEqual(changed.limits.accounts_max, 2)
                self.assertEqual(changed.limits.id_window_us, US_PER_HOUR)
                self.assertEqual(changed.limits.changes, 1)
                self.assertIs(c.credit(s, 2, 100).code, Code.ok)
                again = c.set_limits(accounts_max=2, id_window_us=US_PER_HOUR, id=77)
                self.assertEqual(again.limits.changes, 1)  # a repeat
                bad = c.set_limits(ids_max=0)
                self.assertFalse(bad.ok)
                self.assertEqual(bad.limits_code, Code.invalid_limits)
        finally:
            server.stop()


class ClientFailureTest(unittest.TestCase):
    def test_connection_refused(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.assertRaises(BonusDisconnected) as cm:
            Client("127.0.0.1", port, timeout=2)
        self.assertEqual(cm.exception.name, "disconnected")

    def test_timeout_when_the_server_is_silent(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            accepted = []
            t = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
            t.start()
            c = Client("127.0.0.1", port, timeout=0.3)
            began = time.monotonic()
            with self.assertRaises(BonusTimeout):
                c.ping()
            self.assertLess(time.monotonic() - began, 5)
            c.close()
            t.join(5)
            for conn, _addr in accepted:
                conn.close()

    def test_disconnect_mid_request(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]

            def serve():
                conn, _ = listener.accept()
                conn.recv(32)
                conn.close()

            t = threading.Thread(target=serve, daemon=True)
            t.start()
            with Client("127.0.0.1", port, timeout=5) as c:
                with self.assertRaises(BonusDisconnected):
                    c.ping()
            t.join(5)

    def test_bad_reply_checksum(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]

            def serve():
                conn, _ = listener.accept()
                header = conn.recv(32)
                rid = struct.unpack_from("<Q", header, 16)[0]
                body = b"\x00" * 8
                reply = bytearray(wire.encode_frame(wire.OP_PING, wire.FLAG_REPLY, rid, body))
                reply[-1] ^= 1  # the body no longer matches its checksum
                conn.sendall(reply)
                time.sleep(0.5)
                conn.close()

            t = threading.Thread(target=serve, daemon=True)
            t.start()
            with Client("127.0.0.1", port, timeout=5) as c:
                with self.assertRaises(BonusError) as cm:
                    c.ping()
                self.assertEqual(cm.exception.name, "bad_reply")
            t.join(5)


if __name__ == "__main__":
    unittest.main()
