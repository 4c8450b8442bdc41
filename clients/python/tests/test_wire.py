"""Offline tests of the wire layer: CRC32C, the frame header, the FlatBuffers encoder and
reader, and the codes against the C++ sources. No server needed."""

from __future__ import annotations

import os
import random
import re
import struct
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bonus_client without PYTHONPATH

from bonus_client import (AMOUNT_ALL, Capture, Code, Credit, FrameError, Hold, Life,  # noqa: E402
                          Refund, SetPolicy, WRITE_KINDS, MAIL_ID_TAG, crc32c, hash_pair,
                          mail_id, mail_id_hi, mix64)
from bonus_client import _fb, wire  # noqa: E402
from bonus_client.crc32c import crc32c_reference  # noqa: E402

SOURCE = Path(__file__).resolve().parents[3]


class Crc32cTest(unittest.TestCase):
    def test_check_values(self):
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(crc32c(b""), 0)
        # RFC 3720 (iSCSI) B.4 test vectors.
        self.assertEqual(crc32c(bytes(32)), 0x8A9136AA)
        self.assertEqual(crc32c(b"\xff" * 32), 0x62A8AB43)
        self.assertEqual(crc32c(bytes(range(32))), 0x46DD794E)
        self.assertEqual(crc32c(bytes(range(31, -1, -1))), 0x113FDB5C)

    def test_lanes_agree_with_the_byte_loop(self):
        rng = random.Random(7)
        sizes = [1, 31, 1023, 1024, 1025, 2048, 4095, 4096, 65536 + 17, 294_944, 300_001]
        sizes += [rng.randrange(1, 200_000) for _ in range(6)]
        for n in sizes:
            data = rng.randbytes(n)
            with self.subTest(n=n):
                self.assertEqual(crc32c(data), crc32c_reference(data))
                self.assertEqual(crc32c(bytearray(data)), crc32c_reference(data))
                self.assertEqual(crc32c(memoryview(data)), crc32c_reference(data))

    def test_continuation(self):
        data = os.urandom(10_000)
        for cut in (0, 1, 999, 5000, 10_000):
            self.assertEqual(crc32c(data[cut:], crc32c(data[:cut])), crc32c(data))


class FrameTest(unittest.TestCase):
    def test_header_layout(self):
        body = b"\x01\x02\x03"
        frame = wire.encode_frame(33, 2, 0x1122334455667788, body)
        self.assertEqual(len(frame), 32 + 3)
        magic, version, flags, opcode, size, reserved, rid, body_crc, header_crc = \
            struct.unpack_from("<IBBHIIQII", frame)
        self.assertEqual(frame[:4], b"BON1")
        self.assertEqual((magic, version, flags, opcode, size, reserved, rid),
                         (0x314E4F42, 1, 2, 33, 3, 0, 0x1122334455667788))
        self.assertEqual(body_crc, crc32c(body))
        self.assertEqual(header_crc, crc32c(frame[:28]))
        self.assertEqual(frame[32:], body)

    def test_ping_has_zero_body_crc(self):
        frame = wire.encode_frame(65, 0, 1)
        self.assertEqual(len(frame), 32)
        self.assertEqual(struct.unpack_from("<I", frame, 24)[0], 0)

    def test_decode_header_checks(self):
        good = bytearray(wire.encode_frame(65, 1, 9)[:32])
        h = wire.decode_header(good)
        self.assertEqual((h.opcode, h.flags, h.request_id, h.body_size), (65, 1, 9, 0))
        for offset, name in ((0, "magic"), (4, "version"), (20, "checksum")):
            bad = bytearray(good)
            bad[offset] ^= 0xFF
            with self.subTest(name), self.assertRaises(wire.Malformed):
                wire.decode_header(bad)


class FlatBuffersTest(unittest.TestCase):
    def test_write_batch_layout(self):
        commands = [Credit(1, 2, 300, 4, Life.ttl(5), 6, id=(7 << 64) | 8),
                    Credit(9, 10, 11, 0, Life.never(), 0, id=12)]
        packed = bytearray(72 * 2)
        for k, c in enumerate(commands):
            c.pack_into(packed, 72 * k)
        body = wire.encode_write(b"CRDQ", packed, 2)
        self.assertEqual(body[4:8], b"CRDQ")
        table = _fb.root(body, b"CRDQ")
        start, count = table.vector(0, 72)
        self.assertEqual((count, start % 8), (2, 0))
        first = struct.unpack_from("<QQQQQQB7xqI4x", body, start)
        self.assertEqual(first, (7, 8, 1, 2, 300, 4, 1, 5, 6))
        with self.assertRaises(_fb.Malformed):
            _fb.root(body, b"ACRQ")

    def test_tables_round_trip(self):
        body = wire.encode_cart(77, [(1, 100), (2, 200)], -5)
        t = _fb.root(body, b"CRTQ")
        self.assertEqual(t.scalar(0, "Q"), 77)
        self.assertEqual(t.struct_vector(1, "QQ"), [(1, 100), (2, 200)])
        self.assertEqual(t.scalar(2, "q"), -5)
        self.assertEqual(t.scalar(7, "q", 42), 42)  # beyond the vtable: the default
        cursor = wire.ExpiringCursor(3, 0xFFFFFFFF, -2**63)
        t = _fb.root(wire.encode_expiring(5, 60, 10, cursor), b"EXPQ")
        self.assertEqual(t.struct(3, "IIq"), (3, 0xFFFFFFFF, -2**63))
        self.assertIsNone(_fb.root(wire.encode_expiring(5, 60, 10, None), b"EXPQ").struct(3, "IIq"))
        t = _fb.root(wire.encode_admin(3, 99), b"ADMQ")
        self.assertEqual((t.scalar(0, "B"), t.scalar(1, "q")), (3, 99))
        t = _fb.root(wire.encode_balance([(1, 2)], True), b"BALQ")
        self.assertEqual((t.struct_vector(0, "QQ"), t.scalar(1, "?")), ([(1, 2)], True))

    def test_hello_strings(self):
        for token, name in [("bt_abc", "job"), ("", ""), ("ключ", "x" * 128)]:
            t = _fb.root(wire.encode_hello(token, name), b"HELQ")
            self.assertEqual((t.string(0), t.scalar(1, "I"), t.string(2)), (token, 1, name))


        body = bytearray(wire.encode_stats(1, 2))
        struct.pack_into("<I", body, 0, len(body) + 4)  # root outside the buffer
        with self.assertRaises(_fb.Malformed):
            _fb.root(body, b"STAQ")
        for cut in range(8, len(body)):
            try:
                t = _fb.root(bytes(wire.encode_stats(1, 2))[:cut], b"STAQ")
                t.scalar(0, "Q")
                t.scalar(1, "Q")
            except _fb.Malformed:
                pass  # a truncated body is refused, never an IndexError / struct.error

    def test_write_reply_shape_checks(self):
        def reply(rows):
            packed = b"".join(wire.WRITE_RESULT.pack(*r) for r in rows)
            return bytes(_fb.encode_table(b"WRTR", [_fb.StructVector(packed, len(rows))]))

        ok = reply([(0, 0, 0, 5, 0), (1, 3, 0, 0, 0)])
        self.assertEqual(len(wire.decode_write_reply(ok, 2, False)), 2)
        with self.assertRaises(wire.Malformed):
            wire.decode_write_reply(ok, 3, False)  # one result per command
        with self.assertRaises(wire.Malformed):
            wire.decode_write_reply(reply([(1, 0, 0, 0, 0), (0, 0, 0, 0, 0)]), 2, False)
        with self.assertRaises(wire.Malformed):
            wire.decode_write_reply(ok, 2, True)  # errors_only never carries ok
        self.assertEqual(wire.decode_write_reply(reply([(1, 3, 0, 0, 0)]), 2, True),
                         [(1, 3, 0, 0, 0, 0)])

    def test_write_reply_expired_entries(self):
        def reply(rows, expired):
            packed = b"".join(wire.WRITE_RESULT.pack(*r) for r in rows)
            entries = b"".join(wire.EXPIRED_RESULT.pack(*e) for e in expired)
            return bytes(_fb.encode_table(b"WRTR", [_fb.StructVector(packed, len(rows)),
                                                    _fb.StructVector(entries, len(expired))]))

        rows = [(0, 0, 0, 150, 0), (1, 0, 0, 80, 20), (2, 3, 0, 0, 0)]
        self.assertEqual(wire.decode_write_reply(reply(rows, [(0, 100), (1, 60)]), 3, False),
                         [(0, 0, 0, 150, 0, 100), (1, 0, 0, 80, 20, 60), (2, 3, 0, 0, 0, 0)])
        for bad in ([(1, 5), (0, 5)],   # not by increasing index
                    [(2, 5)],           # names a rejection
                    [(3, 5)],           # names no result
                    [(0, 0)]):          # says nothing
            with self.assertRaises(wire.Malformed, msg=str(bad)):
                wire.decode_write_reply(reply(rows, bad), 3, False)


class CommandsTest(unittest.TestCase):
    def test_struct_sizes_match_the_protocol(self):
        sizes = {c.__name__: c.STRUCT.size for c in WRITE_KINDS}
        self.assertEqual(sizes, {
            "Credit": 72, "Accrue": 64, "ConfirmAccrual": 24, "CancelAccrual": 24, "Hold": 64,
            "Capture": 32, "Release": 24, "Spend": 56, "Refund": 32, "ReverseAccrual": 24,
            "RevokeCampaign": 32, "SetPolicy": 56, "Referral": 80})
        self.assertEqual([c.OPCODE for c in WRITE_KINDS], list(range(1, 14)))

    def test_missing_id_is_filled_once(self):
        h = Hold(1, 2, 3, 4, 5)
        buf = bytearray(64)
        h.pack_into(buf, 0)
        first = h.id
        self.assertTrue(first)
        h.pack_into(buf, 0)
        self.assertEqual(h.id, first)

    def test_out_of_range_is_a_value_error(self):
        with self.assertRaises(ValueError):
            Credit(-1, 2, 3).pack_into(bytearray(72), 0)
        with self.assertRaises(ValueError):
            Credit(1, 2, 3, id=1 << 128).pack_into(bytearray(72), 0)

    def test_amount_none_is_all_and_zero_stays_zero(self):
        # Regression: amount 0 used to be the default and to mean "all" on the server.
        self.assertEqual(AMOUNT_ALL, 2**64 - 1)
        limits = (SOURCE / "engine" / "limits.h").read_text()
        self.assertIn("kAmountAll = ~Amount{0};", limits)  # the engine's "all" is 2^64 - 1
        for kind in (Capture, Refund):
            buf = bytearray(32)
            for command, wire_amount in ((kind(5), AMOUNT_ALL), (kind(5, None), AMOUNT_ALL),
                                         (kind(5, 0), 0), (kind(5, 7), 7)):
                command.pack_into(buf, 0)
                self.assertEqual(struct.unpack_from("<QQ", buf, 16), (5, wire_amount),
                                 f"{command!r}")

    def test_set_policy_fields(self):
        p = SetPolicy.of(5, balance_max=10, lot_life_us=7)
        self.assertEqual(p.fields, SetPolicy.BALANCE_MAX | SetPolicy.LOT_LIFE)

    def test_life_forms(self):
        self.assertEqual(Life.of(), Life(0, 0))
        self.assertEqual(Life.of(ttl_us=5), Life(1, 5))
        self.assertEqual(Life.of(expires_at_us=6), Life(2, 6))
        self.assertEqual(Life.of(never=True), Life(3, 0))
        with self.assertRaises(ValueError):
            Life.of(ttl_us=5, never=True)


class MailIdTest(unittest.TestCase):
    def test_derivation(self):
        # mix64 is MurmurHash3's fmix64; hash_pair is engine/hash.h's. Expected values were
        # printed by engine/hash.h compiled with g++.
        self.assertEqual(mix64(0), 0)
        self.assertEqual(mix64(1), 0xB456BCFC34C2CB2C)
        self.assertEqual(hash_pair(1, 2), 0x95527B2E69B24CDF)
        self.assertEqual(hash_pair(7, 9), 0xA0977C8FC8BCC5F9)
        self.assertEqual(MAIL_ID_TAG, int.from_bytes(b"bonusct1", "big"))
        # bonusctl's mail_id (clients/bonusctl/mailing.h): the CLI and Python agree.
        self.assertEqual(mail_id_hi(1, 2), hash_pair(hash_pair(MAIL_ID_TAG, 1), 2))
        self.assertEqual(mail_id(1, 2, 3), 0x8803726F21E476A3_0000000000000003)
        self.assertEqual(mail_id(7, 9, 2**64 - 1), 0x699F18BFB41DE519_FFFFFFFFFFFFFFFF)


class CodesMatchTheSourcesTest(unittest.TestCase):
    def enum_of(self, path: Path, name: str) -> dict[str, int]:
        text = path.read_text()
        block = re.search(r"enum class " + name + r"\b[^{]*\{(.*?)\};", text, re.S).group(1)
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"(\w+) = (\d+)", block)}

    def test_code_is_engine_code(self):
        path = SOURCE / "engine" / "code.h"
        if not path.exists():
            self.skipTest("engine/code.h not found")
        self.assertEqual(self.enum_of(path, "Code"), {c.name: c.value for c in Code})

    def test_frame_error_is_protocol_frame_error(self):
        path = SOURCE / "protocol" / "frame.h"
        if not path.exists():
            self.skipTest("protocol/frame.h not found")
        self.assertEqual(self.enum_of(path, "FrameError"), {c.name: c.value for c in FrameError})

    def test_unknown_numbers_are_kept(self):
        c = Code(200)
        self.assertEqual((int(c), c.name, c.known), (200, "unknown_200", False))
        self.assertTrue(Code.ok.known)
        self.assertEqual(FrameError(99).name, "unknown_99")


if __name__ == "__main__":
    unittest.main()
