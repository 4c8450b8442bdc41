"""The wire format of protocol/README.md: the 32-byte frame header and every message body.

Pure functions, no I/O. Decoders raise `_fb.Malformed` for bytes that are not the
expected message; the client turns that into `BonusBadReply`.
"""

from __future__ import annotations

import struct

from . import _fb
from .codes import FrameError
from .crc32c import crc32c
from .views import (Account, AdminStatus, EventKind, Hello, HistoryCursor, HistoryEvent,
                    HistoryPage, Limits, CampaignStats, CartEntry, ExpiringCursor, Policy,
                    ExpiringEntry, ExpiringPage, Lot, LotOrigin, MonthReport, SellerStats)

Malformed = _fb.Malformed

MAGIC = 0x314E4F42  # "BON1"
VERSION = 1
HEADER_BYTES = 32
BODY_SIZE_MAX = 16 << 20  # the protocol's ceiling: replies are read up to it
BATCH_COMMANDS_DEFAULT = 8192  # the server's default --batch-commands-max

FLAG_REPLY = 1
FLAG_ERRORS_ONLY = 2
# The body starts with a log position (u64 little-endian): a request's, the least the node
# must reflect before it serves it; a reply's, the position it reflects.
FLAG_POSITION = 4

# Opcodes (protocol/frame.h).
OP_BALANCE = 32
OP_CART = 33
OP_WALLET = 34
OP_EXPIRING = 35
OP_STATS = 36
OP_SEGMENT = 37
OP_HISTORY = 38
OP_ORDER = 39
OP_POLICY = 40
OP_REPORT = 41
HISTORY_PAGE_MAX = 1000
OP_ADMIN = 64
OP_PING = 65
OP_HELLO = 66
OP_ERROR = 127

ADMIN_STATUS = 0
ADMIN_AUDIT = 1
ADMIN_CHECKPOINT = 2
ADMIN_CLOCK_ADVANCE = 3
ADMIN_LIMITS = 4
ADMIN_SET_LIMITS = 5
ADMIN_FORGET_NODE = 6

# SetLimits.fields bits, as engine/command.h.
LIMIT_ACCOUNTS_MAX = 1
LIMIT_ORDERS_MAX = 2
LIMIT_IDS_MAX = 4
LIMIT_ID_WINDOW = 8
LIMIT_ORDER_RETENTION = 16
LIMIT_REJECTED_IDS_MAX = 32
LIMIT_REJECTED_ID_WINDOW = 64

_HEADER = struct.Struct("<IBBHIIQII")
assert _HEADER.size == HEADER_BYTES


# ------------------------------------------------------------------------------------
# Frames.

def encode_header(opcode: int, flags: int, request_id: int, body_size: int,
                  body_crc: int) -> bytes:
    """The 32 header bytes, header checksum included."""
    header = bytearray(_HEADER.pack(MAGIC, VERSION, flags, opcode, body_size, 0, request_id,
                                    body_crc, 0))
    struct.pack_into("<I", header, 28, crc32c(bytes(header[:28])))
    return bytes(header)


def frame_parts(opcode: int, flags: int, request_id: int, body=b"",
                body_crc: int | None = None) -> tuple[bytes, bytes]:
    """(header, body) of a frame. `body_crc` overrides the body checksum (tests only)."""
    if len(body) > BODY_SIZE_MAX:
        raise ValueError(f"body of {len(body)} bytes is above the protocol's 16 MiB")
    if body_crc is None:
        body_crc = crc32c(body) if body else 0
    return encode_header(opcode, flags, request_id, len(body), body_crc), body


def encode_frame(opcode: int, flags: int, request_id: int, body=b"",
                 body_crc: int | None = None) -> bytes:
    """A whole frame: header + body."""
    header, body = frame_parts(opcode, flags, request_id, body, body_crc)
    return header + bytes(body)


class Header:
    __slots__ = ("flags", "opcode", "body_size", "request_id", "body_crc")

    def __init__(self, flags: int, opcode: int, body_size: int, request_id: int, body_crc: int):
        self.flags, self.opcode, self.body_size = flags, opcode, body_size
        self.request_id, self.body_crc = request_id, body_crc


def decode_header(data) -> Header:
    """Checks a reply header as a receiver must: magic, version, checksum, size."""
    magic, version, flags, opcode, size, _reserved, rid, body_crc, header_crc = \
        _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise Malformed(f"bad magic 0x{magic:08x}")
    if version != VERSION:
        raise Malformed(f"bad version {version}")
    if crc32c(bytes(data[:28])) != header_crc:
        raise Malformed("bad header checksum")
    if size > BODY_SIZE_MAX:
        raise Malformed(f"body of {size} bytes is above 16 MiB")
    return Header(flags, opcode, size, rid, body_crc)


# ------------------------------------------------------------------------------------
# Requests.

def encode_write(identifier: bytes, packed, count: int, side=None) -> bytearray:
    """A write batch body: `count` command structs already packed back to back, and the
    batch's side vector (accrue: prices, set_policy: rates), one struct per command, if any."""
    fields = [_fb.StructVector(packed, count)]
    if side is not None:
        fields.append(_fb.StructVector(side, count))
    return _fb.encode_table(identifier, fields)


_ACCOUNT_KEY = struct.Struct("<QQ")
_CART_LINE = struct.Struct("<QQ")


def encode_balance(keys, with_lots: bool) -> bytearray:
    packed = b"".join(_ACCOUNT_KEY.pack(s, b) for s, b in keys)
    return _fb.encode_table(b"BALQ", [_fb.StructVector(packed, len(keys)),
                                      _fb.Scalar("?", bool(with_lots))])


def encode_cart(buyer: int, lines, soon_us: int) -> bytearray:
    packed = b"".join(_CART_LINE.pack(s, g) for s, g in lines)
    return _fb.encode_table(b"CRTQ", [_fb.Scalar("Q", buyer), _fb.StructVector(packed, len(lines)),
                                      _fb.Scalar("q", soon_us)])


def encode_wallet(buyer: int) -> bytearray:
    return _fb.encode_table(b"WALQ", [_fb.Scalar("Q", buyer)])


def encode_expiring(seller: int, within_us: int, limit: int,
                    cursor: ExpiringCursor | None) -> bytearray:
    fields = [_fb.Scalar("Q", seller), _fb.Scalar("q", within_us), _fb.Scalar("I", limit), None]
    if cursor is not None:
        fields[3] = _fb.Scalar("IIq", cursor.shard, cursor.after_account, cursor.bucket, align=8)
    return _fb.encode_table(b"EXPQ", fields)


SEGMENT_INACTIVE = 0
SEGMENT_UNSPENT = 1
SEGMENT_BOUGHT_WITHIN = 2


def encode_segment(seller: int, kind: int, campaign: int, period_us: int, limit: int,
                   cursor: tuple[int, int] | None) -> bytearray:
    fields: list = [_fb.Scalar("Q", seller), _fb.Scalar("B", kind), _fb.Scalar("Q", campaign),
                    _fb.Scalar("q", period_us), _fb.Scalar("I", limit), None]
    if cursor is not None:
        fields[5] = _fb.Scalar("IIQ", cursor[0], 0, cursor[1], align=8)
    return _fb.encode_table(b"SEGQ", fields)


def decode_segment_reply(body) -> tuple[list[int], tuple[int, int] | None, bool]:
    """(buyers, next cursor or None, done)."""
    t = _fb.root(body, b"SEGR")
    buyers = t.struct_vector(0, "Q")
    if buyers is None:
        raise Malformed("SegmentReply without buyers")
    done = t.scalar(2, "?", False)
    nxt = t.struct(1, "IIQ")
    if not done and nxt is None:
        raise Malformed("SegmentReply neither done nor with a next cursor")
    return [b for (b,) in buyers], None if done else (nxt[0], nxt[2]), done


def encode_policy(seller: int) -> bytearray:
    return _fb.encode_table(b"PRDQ", [_fb.Scalar("Q", seller)])


_HISTORY_CURSOR = "QI4x"
_HISTORY_EVENT = "QIBB2xQQQqQIIIIIII4x"
assert struct.calcsize("<" + _HISTORY_EVENT) == 88


def _history_cursor(cursor: HistoryCursor | None):
    if cursor is None:
        return None
    return _fb.Scalar(_HISTORY_CURSOR, cursor.position, cursor.index, align=8)


def encode_history(seller: int, buyer: int, limit: int, cursor: HistoryCursor | None) -> bytearray:
    return _fb.encode_table(b"HISQ", [_fb.Scalar("Q", seller), _fb.Scalar("Q", buyer),
                                      _fb.Scalar("I", limit), _history_cursor(cursor)])


def encode_order(order: int, limit: int, cursor: HistoryCursor | None) -> bytearray:
    return _fb.encode_table(b"ORDQ", [_fb.Scalar("Q", order), _fb.Scalar("I", limit),
                                      _history_cursor(cursor)])


def encode_stats(seller: int, campaign: int) -> bytearray:
    return _fb.encode_table(b"STAQ", [_fb.Scalar("Q", seller), _fb.Scalar("Q", campaign)])


def month_index(month: str) -> int:
    """"2026-11" as months since 1970-01 (the report's month): 682."""
    year, _, mm = month.partition("-")
    if len(month) != 7 or not (year.isdigit() and mm.isdigit()) or not 1 <= int(mm) <= 12:
        raise ValueError(f"month {month!r}: want YYYY-MM")
    index = (int(year) - 1970) * 12 + int(mm) - 1
    if not 0 <= index <= 0xFFFF:
        raise ValueError(f"month {month!r}: out of range")
    return index


def encode_report(seller: int, month: int) -> bytearray:
    return _fb.encode_table(b"REPQ", [_fb.Scalar("Q", seller), _fb.Scalar("H", month)])


REASON_BUCKETS = ("none", "mailing", "gift", "apology", "referral", "manual", "own")


def decode_report_reply(body) -> MonthReport:
    t = _fb.root(body, b"REPR")
    credited = t.struct_vector(4, "Q")
    if credited is None or len(credited) != len(REASON_BUCKETS):
        raise Malformed("ReportReply without its 7 credited figures")
    month = t.scalar(1, "H")
    return MonthReport(t.scalar(0, "Q"), f"{1970 + month // 12:04d}-{month % 12 + 1:02d}",
                       t.scalar(2, "Q"), t.scalar(3, "Q"),
                       {name: v for name, (v,) in zip(REASON_BUCKETS, credited)},
                       *(t.scalar(i, "Q") for i in range(5, 11)))


def encode_admin(action: int, clock_advance_us: int = 0,
                 set_limits: tuple | None = None, node: str | None = None) -> bytearray:
    """`set_limits`: (id, fields, accounts_max, orders_max, ids_max, id_window_us,
    order_retention_us, rejected_ids_max, rejected_id_window_us) for ADMIN_SET_LIMITS;
    `node`: the node's name for ADMIN_FORGET_NODE."""
    fields = [_fb.Scalar("B", action), _fb.Scalar("q", clock_advance_us), None]
    if set_limits is not None:
        id_, bits, *values = set_limits
        fields[2] = _fb.Scalar("QQIIQQQqqQq", id_ >> 64, id_ & (2**64 - 1), bits, 0, *values,
                               align=8)
    if node is not None:
        fields.append(_fb.String(node))
    return _fb.encode_table(b"ADMQ", fields)


def encode_hello(token: str, client_name: str, protocol_version: int = VERSION) -> bytearray:
    """HelloRequest: the bearer token (at most 256 bytes) and the client's name."""
    return _fb.encode_table(b"HELQ", [_fb.String(token), _fb.Scalar("I", protocol_version),
                                      _fb.String(client_name)])


# ------------------------------------------------------------------------------------
# Replies.

WRITE_RESULT = struct.Struct("<IHBxQQ")
assert WRITE_RESULT.size == 24


_indexes_cache: dict[int, bytes] = {}


def _indexes(count: int) -> bytes:
    """0, 1, ..., count-1 as little-endian u32s."""
    cached = _indexes_cache.get(count)
    if cached is None:
        cached = struct.pack(f"<{count}I", *range(count))
        if len(_indexes_cache) < 64:
            _indexes_cache[count] = cached
    return cached


def write_results(body, sent: int, errors_only: bool) -> tuple[int, int]:
    """(start, count) of the WriteResult vector of a WriteReply to `sent` commands, with
    its shape checked: indexes increasing and below `sent`; one result per command
    without errors_only; no `ok` with it."""
    table = _fb.root(body, b"WRTR")
    v = table.vector(0, WRITE_RESULT.size)
    if v is None:
        raise Malformed("WriteReply without results")
    start, count = v
    if count > sent or (not errors_only and count != sent):
        raise Malformed(f"{count} results for {sent} commands")
    if not errors_only:
        # Indexes must be 0..count-1: compare their raw little-endian bytes at once.
        chunk = memoryview(bytes(body[start:start + 24 * count]))
        if count and chunk.cast("I")[0::6].tobytes() != _indexes(count):
            raise Malformed("result indexes out of order")
    else:
        previous = -1
        for index, code, _f, _a, _x in WRITE_RESULT.iter_unpack(body[start:start + 24 * count]):
            if index <= previous or index >= sent or code == 0:
                raise Malformed("errors_only results out of shape")
            previous = index
    return start, count


EXPIRED_RESULT = struct.Struct("<II")  # index, expired


def decode_write_reply(body, sent: int, errors_only: bool) -> list[tuple]:
    """[(index, code, flags, amount, aux, expired)] of a WriteReply, checked
    (write_results). `expired` comes from the reply's optional `expired` vector: bonuses
    a refund, release or capture returned that expired at once (0 when not listed)."""
    start, count = write_results(body, sent, errors_only)
    rows = [r + (0,) for r in WRITE_RESULT.iter_unpack(body[start:start + 24 * count])]
    v = _fb.root(body, b"WRTR").vector(1, EXPIRED_RESULT.size, 4)
    if v is not None:
        _add_expired(rows, EXPIRED_RESULT.iter_unpack(body[v[0]:v[0] + 8 * v[1]]))
    return rows


def _add_expired(rows: list[tuple], entries) -> None:
    """Puts each (index, expired) entry into its row: entries by increasing index, each
    naming an ok result of the reply, with a figure above 0 (protocol/README.md)."""
    position = {row[0]: k for k, row in enumerate(rows)}
    previous = -1
    for index, expired in entries:
        k = position.get(index)
        if index <= previous or k is None or rows[k][1] != 0 or expired == 0:
            raise Malformed("expired entries out of shape")
        previous = index
        rows[k] = rows[k][:5] + (expired,)


_LOT = "QqB7xQ"


def _account(t: _fb.Table) -> Account:
    lots = t.struct_vector(9, _LOT)
    if lots is not None:
        if any(origin > 1 for _a, _e, origin, _i in lots):
            raise Malformed("lot with an unknown origin")
        reasons = t.vector(11, 1, 1)
        if reasons is not None and reasons[1] != len(lots):
            raise Malformed("lot_reasons not as long as lots")
        why = t.buf[reasons[0]:reasons[0] + reasons[1]] if reasons else bytes(len(lots))
        lots = tuple(Lot(a, e, LotOrigin(o), i, why[k])
                     for k, (a, e, o, i) in enumerate(lots))
    tier = t.struct(10, "IIQQq") or (0, 0, 0, 0, 0)  # AccountTier; absent from older servers
    return Account(seller=t.scalar(0, "Q"), buyer=t.scalar(1, "Q"), exists=t.scalar(2, "?", False),
                   available=t.scalar(3, "Q"), held=t.scalar(4, "Q"), pending=t.scalar(5, "Q"),
                   debt=t.scalar(6, "Q"), next_expiry_us=t.scalar(7, "q"),
                   next_expiry_amount=t.scalar(8, "Q"), lots=lots, tier=tier[0],
                   rate_bp=tier[1], purchases_kopecks=tier[2], next_tier_kopecks=tier[3],
                   last_purchase_us=tier[4])


def decode_accounts(body, identifier: bytes) -> list[Account]:
    """BalanceReply (b"BALR") or WalletReply (b"WALR")."""
    tables = _fb.root(body, identifier).tables(0)
    if tables is None:
        raise Malformed("reply without accounts")
    return [_account(t) for t in tables]


def decode_cart_reply(body) -> list[CartEntry]:
    t = _fb.root(body, b"CRTR")
    entries = t.struct_vector(0, "QQQQQq")
    if entries is None:
        raise Malformed("CartReply without entries")
    earn = t.struct_vector(1, "QIIQQ")  # CartEarn; absent from older servers
    if earn is None:
        earn = [(0, 0, 0, 0, 0)] * len(entries)
    if len(earn) != len(entries):
        raise Malformed(f"CartReply with {len(earn)} earn entries for {len(entries)} lines")
    return [CartEntry(*e, *x) for e, x in zip(entries, earn)]


def decode_policy_reply(body) -> Policy:
    t = _fb.root(body, b"PRDR")
    tiers = t.struct_vector(7, "QII") or []
    if len(tiers) > 8:
        raise Malformed(f"PolicyReply with {len(tiers)} tiers")
    return Policy(seller=t.scalar(0, "Q"), spend_share_bp=t.scalar(1, "I"),
                  balance_max=t.scalar(2, "Q"), earn_month_max=t.scalar(3, "Q"),
                  lot_life_us=t.scalar(4, "q"), rate_bp=t.scalar(5, "I"),
                  tier_window_days=t.scalar(6, "I"),
                  tiers=tuple((threshold, rate) for threshold, rate, _r in tiers))


def decode_expiring_reply(body) -> ExpiringPage:
    t = _fb.root(body, b"EXPR")
    entries = t.struct_vector(0, "QQq")
    if entries is None:
        raise Malformed("ExpiringReply without entries")
    done = t.scalar(2, "?", False)
    nxt = t.struct(1, "IIq")
    cursor = None
    if not done:
        if nxt is None:
            raise Malformed("ExpiringReply neither done nor with a next cursor")
        cursor = ExpiringCursor(*nxt)
    return ExpiringPage(tuple(ExpiringEntry(*e) for e in entries), cursor, done)


def decode_history_reply(body) -> HistoryPage:
    t = _fb.root(body, b"HISR")
    events = t.struct_vector(0, _HISTORY_EVENT)
    if events is None:
        raise Malformed("HistoryReply without events")
    out = []
    for e in events:
        if not 1 <= e[2] <= 12 or e[3] > 2:
            raise Malformed(f"HistoryReply with an event of kind {e[2]}, ref kind {e[3]}")
        out.append(HistoryEvent(e[0], e[1], EventKind(e[2]), *e[3:]))
    done = t.scalar(2, "?", False)
    nxt = t.struct(1, _HISTORY_CURSOR)
    cursor = None
    if not done:
        if nxt is None:
            raise Malformed("HistoryReply neither done nor with a next cursor")
        cursor = HistoryCursor(*nxt)
    return HistoryPage(tuple(out), cursor, done, t.scalar(3, "Q", 0), t.scalar(4, "Q", 0),
                       t.scalar(5, "q", 0))


def _stats(body) -> list:
    t = _fb.root(body, b"STAR")
    return ([t.scalar(i, "Q") for i in range(12)] + [t.scalar(12, "?", False)]
            + [t.scalar(i, "Q") for i in range(13, 16)])


def decode_seller_stats(body) -> SellerStats:
    return SellerStats(*_stats(body)[:10])


def decode_campaign_stats(body) -> CampaignStats:
    (issued, _accrued, spent, expired, refunded, reversed_, _held, _pending, _debt, outstanding,
     recipients, spenders, revoked, revoked_amount, sales_orders, sales_kopecks) = _stats(body)
    return CampaignStats(issued, spent, expired, refunded, reversed_, outstanding, recipients,
                         spenders, revoked, revoked_amount, sales_orders, sales_kopecks)


def decode_admin_reply(body) -> AdminStatus:
    t = _fb.root(body, b"ADMR")
    return AdminStatus(ok=t.scalar(0, "?", False), message=t.string(1),
                       ledger_time_us=t.scalar(2, "q"), accounts=t.scalar(3, "Q"),
                       shards=t.scalar(4, "I"), test_clock=t.scalar(5, "?", False),
                       journal_bytes=t.scalar(6, "Q"), durability=t.string(7),
                       checkpoint_position=t.scalar(8, "Q"),
                       limits=None if (l := t.struct(9, "QQQqqQqQ")) is None else Limits(*l),
                       limits_code=t.scalar(10, "H"), history_position=t.scalar(11, "Q", 0),
                       history=t.string(12), node_state=t.string(13), leader=t.string(14),
                       log_position=t.scalar(15, "Q", 0), state_hash=t.scalar(16, "Q", 0))


def decode_hello_reply(body) -> Hello:
    t = _fb.root(body, b"HELR")
    return Hello(role=t.string(0), protocol_version=t.scalar(1, "I"), shards=t.scalar(2, "I"),
                 body_size_max=t.scalar(3, "I"), batch_commands_max=t.scalar(4, "I"),
                 in_flight_max=t.scalar(5, "I"), authenticated=t.scalar(6, "?", False),
                 name=t.string(7), partition_ports=_ushorts(t, 8), partition_hash=t.string(9),
                 node_state=t.string(10), leader=t.string(11), log_position=t.scalar(12, "Q", 0))


def _ushorts(t, field: int) -> tuple[int, ...]:
    v = t.vector(field, 2, 2)
    if v is None:
        return ()
    start, count = v
    return struct.unpack_from(f"<{count}H", t.buf, start)


def decode_error_reply(body) -> tuple[FrameError, str]:
    t = _fb.root(body, b"ERRR")
    return FrameError(t.scalar(0, "H")), t.string(1)

