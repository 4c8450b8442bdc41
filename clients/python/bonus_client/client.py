"""The client: one TCP connection to bonusd, typed methods for every command and query,
pipelined batches, and the `mail` helper. Not thread-safe: one Client per thread.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
import secrets
import selectors
import socket
import ssl
import struct
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from . import wire
from .codes import Code, FrameError
from .commands import (Accrue, CancelAccrual, Capture, ConfirmAccrual, Credit, Hold, Life,
                       Referral, Refund, Release, Result, ReverseAccrual, RevokeCampaign, SetPolicy,
                       Spend, WriteCommand)
from .crc32c import crc32c
from .views import (Account, AdminStatus, CampaignStats, Hello, CartEntry, ExpiringCursor, Policy,
                    ExpiringEntry, ExpiringPage, MonthReport, SellerStats,
                    HistoryCursor, HistoryEvent, HistoryPage)

__all__ = ["Client", "tls_context", "BonusError", "BonusTimeout", "BonusDisconnected", "BonusBadReply",
           "MailSummary", "MAIL_ID_TAG", "mail_id", "mail_id_hi", "hash_pair", "mix64"]

_M64 = (1 << 64) - 1


# ------------------------------------------------------------------------------------
# Errors.

class BonusError(Exception):
    """A request was not served. `name` is the FrameError's name for an ErrorReply from
    the server (`error` is then that FrameError), or one of the client's own: "timeout",
    "disconnected", "bad_reply". Business rejections are never errors: they are Results."""

    def __init__(self, name: str, message: str = "", error: FrameError | None = None,
                 request_id: int = 0):
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message
        self.error = error
        self.request_id = request_id


class BonusTimeout(BonusError):
    """No reply within the client's timeout. The request may or may not have been applied:
    retry writes with the same ids."""

    def __init__(self, message: str = ""):
        super().__init__("timeout", message)


class BonusDisconnected(BonusError):
    """The connection broke or could not be made; the next call reconnects."""

    def __init__(self, message: str = ""):
        super().__init__("disconnected", message)


def _address(text: str) -> tuple[str, int]:
    """ "host:port" (an IPv6 host in brackets) as (host, port); ValueError if it is not."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"others: {text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class BonusBadReply(BonusError):
    """The server's reply could not be understood (checksum, shape, FlatBuffers)."""

    def __init__(self, message: str = ""):
        super().__init__("bad_reply", message)


# ------------------------------------------------------------------------------------
# Mail ids.

def mix64(x: int) -> int:
    """MurmurHash3's fmix64 (engine/hash.h), on unsigned 64-bit values."""
    x &= _M64
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _M64
    x ^= x >> 33
    return x


def hash_pair(a: int, b: int) -> int:
    """engine/hash.h hash_pair: mix64((a * 0x9E3779B97F4A7C15 mod 2^64) XOR mix64(b))."""
    return mix64(((a * 0x9E3779B97F4A7C15) & _M64) ^ mix64(b))


MAIL_ID_TAG = 0x626F6E7573637431  # "bonusct1": mail ids are apart from every other id


def mail_id_hi(seller: int, campaign: int) -> int:
    """The high half of every mail id of one mailing:
    hash_pair(hash_pair(MAIL_ID_TAG, seller), campaign), or 1 if that is 0."""
    return hash_pair(hash_pair(MAIL_ID_TAG, seller), campaign) or 1


def mail_id(seller: int, campaign: int, buyer: int) -> int:
    """The write id `mail` gives the credit of (seller, campaign, buyer):
    id.hi = mail_id_hi(seller, campaign), id.lo = buyer. The same derivation as
    bonusctl's mail (clients/bonusctl/mailing.h), so the two agree (README.md, "Mail ids")."""
    return mail_id_hi(seller, campaign) << 64 | buyer


@dataclass
class MailSummary:
    """What a `mail` run did. Counts are per buyer (per credit sent)."""

    sent: int = 0             # credits sent and answered
    credited: int = 0         # applied by this run (ok, not a repeat), caps included
    credited_amount: int = 0  # bonuses those credits added (after caps)
    capped: int = 0           # of `credited`, cut by the balance or monthly earn cap
    repeats: int = 0          # already credited by an earlier run: nothing changed
    repeat_amount: int = 0    # what those earlier credits had added
    rejected: dict[Code, int] = field(default_factory=dict)  # by code
    rejected_buyers: list[tuple[int, Code]] = field(default_factory=list)  # the first 1000
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def __str__(self) -> str:
        rej = ", ".join(f"{c.name} {n}" for c, n in sorted(self.rejected.items())) or "none"
        return (f"sent {self.sent}: credited {self.credited} ({self.credited_amount} bonuses, "
                f"{self.capped} capped), repeats {self.repeats}, rejected {self.rejected_total} "
                f"({rej}) in {self.seconds:.2f} s")


# ------------------------------------------------------------------------------------
# The connection: non-blocking socket, frames out, replies matched by request id.

def tls_context(ca: str, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """A client context that trusts the CAs in the PEM file `ca` (TLS 1.2 at least, the
    server's name checked) and, for mutual TLS, presents `cert` with its `key`."""
    if (cert is None) != (key is None):
        raise ValueError("tls_cert and tls_key go together")
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


_POSITION = struct.Struct("<Q")  # flag position: the body's first 8 bytes


class _Positions:
    """A client's log positions (flag position): the highest a reply named, and the least
    its requests ask for."""

    def __init__(self, read_your_writes: bool):
        self.read_your_writes = read_your_writes
        self.seen = 0
        self.at_least = 0

    def floor(self) -> int | None:
        """The position a request asks for; None: it goes without the flag."""
        if self.read_your_writes:
            return max(self.seen, self.at_least)
        return self.at_least or None


class _Connection:
    def __init__(self, host: str, port: int, timeout: float,
                 tls: ssl.SSLContext | None = None, server_name: str | None = None,
                 positions: _Positions | None = None):
        self.timeout = timeout
        self.positions = positions
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise BonusDisconnected(f"cannot connect to {host}:{port}: {e}") from None
        if tls is not None:
            try:  # the handshake, blocking, within `timeout`
                sock = tls.wrap_socket(sock, server_hostname=server_name or host)
            except (OSError, ssl.SSLError) as e:
                sock.close()
                raise BonusDisconnected(
                    f"cannot connect to {host}:{port}: TLS handshake failed: {e}") from None
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.mask = selectors.EVENT_READ
        self.out: collections.deque[memoryview] = collections.deque()
        self.inbuf = bytearray()
        self.replies: dict[int, tuple[int, int, bytes]] = {}
        self.pending: set[int] = set()
        self.abandoned: set[int] = set()  # in flight, but nobody waits for the reply
        self.next_id = 1
        self.dead: BonusError | None = None

    def close(self, reason: BonusError | None = None) -> None:
        if self.dead is None:
            self.dead = reason or BonusDisconnected("connection closed")
        try:
            self.sel.close()
        finally:
            self.sock.close()

    def send(self, opcode: int, flags: int, body, body_crc: int | None = None) -> int:
        if self.dead is not None:
            raise self.dead
        rid = self.next_id
        self.next_id += 1
        floor = self.positions.floor() if self.positions is not None else None
        if floor is not None:
            body = _POSITION.pack(floor) + bytes(body)
            flags |= wire.FLAG_POSITION
            body_crc = None
        header, body = wire.frame_parts(opcode, flags, rid, body, body_crc)
        self.out.append(memoryview(header))
        if body:
            self.out.append(memoryview(body))
        self.pending.add(rid)
        return rid

    def send_raw(self, data: bytes, request_id: int | None = None) -> None:
        """Bytes as they are (tests of bad input); `request_id` is awaited if given."""
        if self.dead is not None:
            raise self.dead
        if request_id is not None:
            self.pending.add(request_id)
        self.out.append(memoryview(bytes(data)))

    def _flush(self) -> bool:
        progress = False
        while self.out:
            view = self.out[0]
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                break
            except OSError as e:
                self._fail(BonusDisconnected(f"send failed: {e}"))
                break
            progress = True
            if n == len(view):
                self.out.popleft()
            else:
                self.out[0] = view[n:]
                break
        return progress

    def _fail(self, error: BonusError) -> None:
        if self.dead is None:
            self.dead = error

    def _read(self) -> bool:
        progress = False
        while True:  # a TLS socket may hold decrypted bytes the selector cannot see
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                break
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                data = b""  # bonusd closes TLS without close_notify: a plain end
            except OSError as e:
                self._fail(BonusDisconnected(f"receive failed: {e}"))
                break
            progress = True
            if not data:
                self._parse()
                self._fail(BonusDisconnected("the server closed the connection"))
                break
            self.inbuf += data
            if not isinstance(self.sock, ssl.SSLSocket) or not self.sock.pending():
                break
        self._parse()
        return progress

    def _parse(self) -> None:
        buf = self.inbuf
        pos = 0
        while self.dead is None and len(buf) - pos >= wire.HEADER_BYTES:
            try:
                h = wire.decode_header(buf[pos:pos + wire.HEADER_BYTES])
            except wire.Malformed as e:
                self._fail(BonusBadReply(f"reply header: {e}"))
                break
            end = pos + wire.HEADER_BYTES + h.body_size
            if len(buf) < end:
                break
            body = bytes(buf[pos + wire.HEADER_BYTES:end])
            pos = end
            if not h.flags & wire.FLAG_REPLY:
                self._fail(BonusBadReply("a frame without the reply flag"))
                break
            if (crc32c(body) if body else 0) != h.body_crc:
                self._fail(BonusBadReply("reply body checksum mismatch"))
                break
            if h.request_id in self.abandoned:
                self.abandoned.discard(h.request_id)
                if h.opcode == wire.OP_ERROR:
                    self._framing_lost(body, h.request_id)
            elif h.request_id in self.pending:
                self.pending.discard(h.request_id)
                if h.flags & wire.FLAG_POSITION and h.opcode != wire.OP_ERROR:
                    if len(body) < _POSITION.size:
                        self._fail(BonusBadReply("a reply shorter than its log position"))
                        break
                    position = _POSITION.unpack_from(body)[0]
                    body = body[_POSITION.size:]
                    if self.positions is not None:
                        self.positions.seen = max(self.positions.seen, position)
                self.replies[h.request_id] = (h.opcode, h.flags, body)
                if h.opcode == wire.OP_ERROR:
                    self._framing_lost(body, h.request_id)
            elif h.opcode == wire.OP_ERROR and h.request_id == 0:
                # An error about the stream itself (framing lost): every request fails.
                try:
                    code, message = wire.decode_error_reply(body)
                    self._fail(BonusError(code.name, message, code))
                except wire.Malformed as e:
                    self._fail(BonusBadReply(f"ErrorReply: {e}"))
            else:
                self._fail(BonusBadReply(f"a reply to request {h.request_id}, not in flight"))
        del buf[:pos]

    def abandon(self, rids) -> None:
        """Nobody will wait for these requests' replies: drop them when they come."""
        for rid in rids:
            if self.replies.pop(rid, None) is None and rid in self.pending:
                self.pending.discard(rid)
                self.abandoned.add(rid)

    def _framing_lost(self, body: bytes, request_id: int) -> None:
        """After an ErrorReply that loses framing the server closes the connection: no
        new request may go out on it (the reply itself is still delivered)."""
        try:
            code, message = wire.decode_error_reply(body)
        except wire.Malformed:
            return
        if code.framing_lost:
            self._fail(BonusError(code.name, message, code, request_id))

    def wait(self, rids) -> tuple[int, int, int, bytes]:
        """The first reply to arrive among `rids` (a container of request ids in flight):
        (request id, opcode, flags, body)."""
        deadline = time.monotonic() + self.timeout
        while True:
            if self.replies:
                for rid in self.replies:
                    if rid in rids:
                        opcode, flags, body = self.replies.pop(rid)
                        return rid, opcode, flags, body
            if self.dead is not None:
                raise self.dead
            progress = self._flush() if self.out else False
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
            if mask != self.mask:
                self.sel.modify(self.sock, mask)
                self.mask = mask
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not progress:
                error = BonusTimeout(f"no reply within {self.timeout} s")
                self.close(error)
                raise error
            for _key, events in self.sel.select(max(remaining, 0)):
                if events & selectors.EVENT_WRITE:
                    progress |= self._flush()
                if events & selectors.EVENT_READ:
                    progress |= self._read()
            if progress:
                deadline = time.monotonic() + self.timeout


# ------------------------------------------------------------------------------------
# Pipelined jobs.

class _Job:
    """One request of a pipeline."""

    opcode: int
    flags: int = 0

    def body(self):  # pragma: no cover
        raise NotImplementedError

    def done(self, body: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def split(self) -> list["_Job"] | None:
        """Smaller jobs doing the same, for batch_too_large; None if it cannot split."""
        return None


_CODES = list(Code)
_OK = Result(Code.ok)


def _code(n: int) -> Code:
    return _CODES[n] if n < len(_CODES) else Code(n)


class _WriteJob(_Job):
    def __init__(self, commands: Sequence[WriteCommand], start: int, results: list,
                 errors_only: bool, on_done: Callable[[int], None] | None):
        self.commands, self.start, self.results = commands, start, results
        self.errors_only, self.on_done = errors_only, on_done
        kind = type(commands[0])
        self.opcode = kind.OPCODE
        self.flags = wire.FLAG_ERRORS_ONLY if errors_only else 0

    def body(self):
        kind = type(self.commands[0])
        size = kind.STRUCT.size
        buf = bytearray(size * len(self.commands))
        for k, c in enumerate(self.commands):
            c.pack_into(buf, k * size)
        side = None
        if kind.SIDE is not None:
            values = [c._side() for c in self.commands]
            if any(v is not None for v in values):
                zero = bytes(kind.SIDE.size)
                side = b"".join(zero if v is None else kind.SIDE.pack(*v) for v in values)
        return wire.encode_write(kind.IDENTIFIER, buf, len(self.commands), side)

    def done(self, body: bytes) -> None:
        n = len(self.commands)
        out, start = self.results, self.start
        if self.errors_only:
            for k in range(start, start + n):
                out[k] = _OK
        for index, code, flags, amount, aux, expired in wire.decode_write_reply(
                body, n, self.errors_only):
            out[start + index] = Result(_code(code), flags, amount, aux, expired)
        if self.on_done:
            self.on_done(n)

    def split(self):
        n = len(self.commands)
        if n < 2:
            return None
        h = n // 2
        return [_WriteJob(self.commands[:h], self.start, self.results, self.errors_only,
                          self.on_done),
                _WriteJob(self.commands[h:], self.start + h, self.results, self.errors_only,
                          self.on_done)]


class _BalanceJob(_Job):
    opcode = wire.OP_BALANCE

    def __init__(self, keys: list, with_lots: bool, start: int, results: list):
        self.keys, self.with_lots, self.start, self.results = keys, with_lots, start, results

    def body(self):
        return wire.encode_balance(self.keys, self.with_lots)

    def done(self, body: bytes) -> None:
        accounts = wire.decode_accounts(body, b"BALR")
        if len(accounts) != len(self.keys):
            raise wire.Malformed(f"{len(accounts)} accounts for {len(self.keys)} asked")
        self.results[self.start:self.start + len(accounts)] = accounts

    def split(self):
        if len(self.keys) < 2:
            return None
        h = len(self.keys) // 2
        return [_BalanceJob(self.keys[:h], self.with_lots, self.start, self.results),
                _BalanceJob(self.keys[h:], self.with_lots, self.start + h, self.results)]


_FLAG_REPEAT = Result.REPEAT
_FLAG_CAPPED = Result.CAPPED_BALANCE | Result.CAPPED_EARN
_REJECTED_BUYERS_KEPT = 1000


class _MailJob(_Job):
    opcode = Credit.OPCODE

    def __init__(self, buyers: array, template: bytes, summary: MailSummary,
                 progress: Callable[[MailSummary], None] | None):
        self.buyers, self.template, self.summary, self.progress = buyers, template, summary, progress

    def body(self):
        n = len(self.buyers)
        buf = bytearray(self.template * n)
        if sys.byteorder == "little":
            q = memoryview(buf).cast("Q")
            q[1::9] = self.buyers  # id.lo
            q[3::9] = self.buyers  # buyer
        else:  # pragma: no cover - big-endian hosts
            for k, b in enumerate(self.buyers):
                pos = 72 * k
                buf[pos + 8:pos + 16] = b.to_bytes(8, "little")
                buf[pos + 24:pos + 32] = b.to_bytes(8, "little")
        return wire.encode_write(Credit.IDENTIFIER, buf, n)

    def done(self, body: bytes) -> None:
        n = len(self.buyers)
        start, count = wire.write_results(body, n, False)
        s = self.summary
        credited = amount = capped = repeats = repeat_amount = 0
        for index, code, flags, amt, _aux in wire.WRITE_RESULT.iter_unpack(
                body[start:start + 24 * count]):
            if code == 0:
                if flags & _FLAG_REPEAT:
                    repeats += 1
                    repeat_amount += amt
                else:
                    credited += 1
                    amount += amt
                    if flags & _FLAG_CAPPED:
                        capped += 1
            else:
                c = _code(code)
                s.rejected[c] = s.rejected.get(c, 0) + 1
                if len(s.rejected_buyers) < _REJECTED_BUYERS_KEPT:
                    s.rejected_buyers.append((self.buyers[index], c))
        s.sent += n
        s.credited += credited
        s.credited_amount += amount
        s.capped += capped
        s.repeats += repeats
        s.repeat_amount += repeat_amount
        if self.progress:
            self.progress(s)

    def split(self):
        n = len(self.buyers)
        if n < 2:
            return None
        h = n // 2
        return [_MailJob(self.buyers[:h], self.template, self.summary, self.progress),
                _MailJob(self.buyers[h:], self.template, self.summary, self.progress)]


# ------------------------------------------------------------------------------------
# The client.


def _follow(page_at, items_of):
    """The items of every page, in order: page_at(cursor) from cursor None on, following each
    page's `next` until one is `done` (expiring, history, order)."""
    cursor = None
    while True:
        page = page_at(cursor)
        yield from items_of(page)
        if page.done:
            return
        cursor = page.next


class Client:
    """A connection to bonusd. Use as a context manager, or call close().

    `timeout` (seconds) bounds every wait for a reply: with no progress for that long the
    request fails with BonusTimeout and the connection is closed (the next call
    reconnects). TLS (bonusd started with --tls-cert): `tls_ca`, a PEM file of the CAs to
    trust, and for mutual TLS `tls_cert` and `tls_key`; or an `ssl_context` of your own.
    The server's certificate must name `server_name` (default: `host`). Every reconnect
    handshakes again. `max_body` is the largest request body the client sends (bonusd's
    --frame-size-max, 4 MiB by default): batches are cut to fit it. `batch` is the default
    number of commands per frame (at most the server's --batch-commands-max, 8,192 by
    default); a batch the server finds too large is split and resent automatically.

    `token` is the bearer token of a server started with --auth-file (None: the
    BONUS_TOKEN environment variable, if set; "": none). With one, every connection
    (reconnects too) says hello with it before anything else; a refused token raises
    BonusError with name "unauthenticated" and the server's message. `session` then holds
    the server's Hello (the role granted, shards, limits, partition ports). Without a
    token it is None, unless `partition_routing` is on: then the client says hello without
    a token before the first request about one buyer.

    `partition_routing` (off by default: measured no faster idle and slower during a
    mailing on a 2-core machine, docs/performance.md): when the hello names a port for each
    of the server's partitions, a request about one buyer (balance, cart, wallet, and write
    of a command naming a buyer) goes over a connection to that buyer's partition, whose
    thread owns the buyer: no hand-off between the server's threads. Everything else goes
    to host:port. A partition port that cannot be reached turns this off until the next
    reconnect.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 7400, timeout: float = 5.0, *,
                 max_body: int = 4 << 20, batch: int = 4096, connect: bool = True,
                 tls_ca: str | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 server_name: str | None = None,
                 token: str | None = None, client_name: str = "bonus-python",
                 partition_routing: bool = False, others: Sequence[str] = (),
                 read_your_writes: bool = False):
        self.host, self.port, self.timeout = host, port, timeout
        # Log positions (a leader and its standbys): with read_your_writes every request
        # asks the node for at least the highest position a reply has named (this client's
        # acknowledged writes among them); read_at_least() raises that floor.
        self._positions = _Positions(read_your_writes)
        # host:port, then the other nodes of the same ledger (bonusd --log jetstream), as
        # "HOST:PORT": a connection that cannot be made or breaks, or a not_leader (or
        # shutting_down) answer,
        # sends the next call to the next address in turn.
        self._addresses = [(host, port)] + [_address(o) for o in others]
        self._at = 0
        if ssl_context is not None and tls_ca is not None:
            raise ValueError("give tls_ca (and tls_cert, tls_key) or ssl_context, not both")
        if ssl_context is None and tls_ca is None and (tls_cert or tls_key):
            raise ValueError("tls_cert and tls_key need tls_ca")
        self.tls = ssl_context if tls_ca is None else tls_context(tls_ca, tls_cert, tls_key)
        self.server_name = server_name
        self.max_body = max_body
        self.batch = batch
        self.token = os.environ.get("BONUS_TOKEN", "") if token is None else token
        if len(self.token.encode("utf-8")) > 256:
            raise ValueError("token: at most 256 bytes")
        self.client_name = client_name
        self.session: Hello | None = None
        self.partition_routing = partition_routing
        self._conn: _Connection | None = None
        self._partition_ports: tuple[int, ...] = ()  # as of the main connection's hello
        self._asked_partitions = False  # the main connection said hello
        self._partition_conns: dict[int, _Connection] = {}
        if connect:
            self._connection()

    # --- log positions ----------------------------------------------------------------

    @property
    def position(self) -> int:
        """The highest log position a reply has named (0 before any request at a
        position: read_your_writes, or read_at_least). Hand it to another client's
        read_at_least for its reads to see this one's writes."""
        return self._positions.seen

    def read_at_least(self, position: int) -> None:
        """From now on every request asks the node for at least `position`; a node
        behind it waits for it (bonusd --position-wait-ms), then answers, or raises
        BonusError position_unreached."""
        if not 0 <= position < 1 << 64:
            raise ValueError(f"position: {position} is not a u64")
        self._positions.at_least = max(self._positions.at_least, position)

    # --- connection -----------------------------------------------------------------

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for conn in self._partition_conns.values():
            conn.close()
        self._partition_conns.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> _Connection:
        if self._conn is not None and self._conn.dead is None:
            self._conn._read()  # notices a close meanwhile (idle_timeout) without blocking
        if self._conn is not None and self._conn.dead is not None:
            self._conn.close()
            self._conn = None
        if self._conn is None:
            for tried in range(len(self._addresses)):
                try:
                    conn = _Connection(self.host, self.port, self.timeout, self.tls,
                                       self.server_name, self._positions)
                    break
                except BonusDisconnected:
                    if tried + 1 == len(self._addresses):
                        raise
                    self._move_on()
            self._asked_partitions = False
            if self.token:
                self._learn(self._hello(conn))
            self._conn = conn
        return self._conn

    def _learn(self, hello: Hello) -> None:
        """The session and the partitions' ports of a hello's answer."""
        self.session = hello
        self._asked_partitions = True
        ports = hello.partition_ports
        if not (self.partition_routing and hello.partition_hash == "mix64-mod"
                and len(ports) == hello.shards):
            ports = ()
        if ports != self._partition_ports:
            for old in self._partition_conns.values():
                old.close()
            self._partition_conns.clear()
            self._partition_ports = ports

    def _hello(self, conn: _Connection) -> Hello:
        """Says hello on a new connection before anything else is sent on it."""
        rid = conn.send(wire.OP_HELLO, 0, wire.encode_hello(self.token, self.client_name))
        try:
            _rid, reply_op, _flags, reply = conn.wait((rid,))
            body = self._checked(wire.OP_HELLO, reply_op, reply, rid)
            return self._decode(wire.decode_hello_reply, body)
        except BonusError:
            conn.close()
            raise

    def _route(self, buyer: int | None) -> _Connection:
        """The connection for a request about `buyer`: its partition's, when the server
        names partition ports (and routing is on); else the main one."""
        main = self._connection()
        if buyer is None or not self.partition_routing:
            return main
        if not self._asked_partitions:
            # Without a token nothing was said on connecting: a hello without one asks
            # (role none on a server with --auth-file); whatever goes wrong with it, the
            # request goes to the main connection.
            self._asked_partitions = True
            try:
                self._learn(self._hello(main))
            except BonusError:
                return self._connection()
        if not self._partition_ports:
            return main
        p = mix64(buyer) % len(self._partition_ports)
        conn = self._partition_conns.get(p)
        if conn is not None and conn.dead is None:
            conn._read()  # notices a close meanwhile without blocking
        if conn is not None and conn.dead is not None:
            conn.close()
            conn = None
        if conn is None:
            try:
                conn = _Connection(self.host, self._partition_ports[p], self.timeout, self.tls,
                                   self.server_name, self._positions)
            except BonusDisconnected:
                # Not reachable (a firewall that lets the main port through, a restart
                # without them): the main port serves every buyer too.
                self._partition_ports = ()
                return main
            if self.token:  # the same hello as the main connection's, before anything
                self._hello(conn)
            self._partition_conns[p] = conn
        return conn

    def _move_on(self) -> None:
        """With other addresses: the next call goes to the next one (a standby answered
        not_leader, the node is stopping or gone)."""
        if len(self._addresses) < 2:
            return
        self.close()
        self._at = (self._at + 1) % len(self._addresses)
        self.host, self.port = self._addresses[self._at]
        self._partition_ports = ()

    def _moving_on(self, error: BaseException) -> None:
        if isinstance(error, BonusDisconnected) or (
                isinstance(error, BonusError) and error.error in (FrameError.not_leader,
                                                                  FrameError.shutting_down)):
            self._move_on()

    def request(self, opcode: int, body=b"", *, flags: int = 0,
                body_crc: int | None = None, buyer: int | None = None) -> bytes:
        """Low level: sends one frame and returns the reply body; an ErrorReply raises
        BonusError. `body_crc` overrides the body checksum (tests of bad input only).
        `buyer`: the one buyer it is about, if any (to that buyer's partition)."""
        try:
            conn = self._route(buyer)
            rid = conn.send(opcode, flags, body, body_crc)
            _rid, reply_op, _flags, reply = conn.wait((rid,))
            return self._checked(opcode, reply_op, reply, rid)
        except BonusError as e:
            self._moving_on(e)
            raise

    @staticmethod
    def _checked(opcode: int, reply_op: int, body: bytes, rid: int) -> bytes:
        if reply_op == wire.OP_ERROR:
            try:
                code, message = wire.decode_error_reply(body)
            except wire.Malformed as e:
                raise BonusBadReply(f"ErrorReply: {e}") from None
            raise BonusError(code.name, message, code, rid)
        if reply_op != opcode:
            raise BonusBadReply(f"reply opcode {reply_op} to a request of opcode {opcode}")
        return body

    def _decode(self, decode, *args):
        try:
            return decode(*args)
        except wire.Malformed as e:
            raise BonusBadReply(str(e)) from None

    def _pipeline(self, jobs: Iterator[_Job], window: int, buyer: int | None = None) -> None:
        """Runs `jobs` with up to `window` requests in flight (on `buyer`'s partition's
        connection when given). batch_too_large splits a job and resends it,
        too_many_in_flight resends it; any other ErrorReply is raised once the requests
        in flight are answered."""
        if window < 1:
            raise ValueError("window must be at least 1")
        conn = self._route(buyer)
        inflight: dict[int, _Job] = {}
        retry: collections.deque[_Job] = collections.deque()
        error: Exception | None = None
        exhausted = False
        busy = 0
        try:
            while True:
                while error is None and len(inflight) < window:
                    if retry:
                        job = retry.popleft()
                    elif not exhausted:
                        try:
                            job = next(jobs, None)
                        except Exception as e:  # the caller's iterable failed
                            error = e
                            break
                        if job is None:
                            exhausted = True
                            break
                    else:
                        break
                    try:
                        body = job.body()
                    except Exception as e:  # a field out of range: nothing more is sent
                        error = e
                        break
                    inflight[conn.send(job.opcode, job.flags, body)] = job
                if not inflight:
                    break
                rid, reply_op, _flags, body = conn.wait(inflight)
                job = inflight.pop(rid)
                if reply_op == wire.OP_ERROR:
                    try:
                        code, message = wire.decode_error_reply(body)
                    except wire.Malformed as e:
                        error = error or BonusBadReply(f"ErrorReply: {e}")
                        continue
                    if code == FrameError.batch_too_large and (halves := job.split()):
                        retry.extendleft(reversed(halves))
                        continue
                    if code == FrameError.too_many_in_flight and busy < 1000:
                        busy += 1
                        retry.appendleft(job)
                        window = max(1, len(inflight))
                        continue
                    error = error or BonusError(code.name, message, code, rid)
                    continue
                if reply_op != job.opcode:
                    error = error or BonusBadReply(f"reply opcode {reply_op} to opcode {job.opcode}")
                    continue
                busy = 0
                try:
                    job.done(body)
                except wire.Malformed as e:
                    error = error or BonusBadReply(str(e))
        except BonusError as e:
            self._moving_on(e)
            raise
        finally:
            if inflight:  # interrupted (timeout, disconnect, KeyboardInterrupt, ...)
                conn.abandon(inflight)
        if error is not None:
            self._moving_on(error)
            raise error

    def _chunk(self, struct_size: int, batch: int | None) -> int:
        n = batch or self.batch
        fits = (self.max_body - 64) // struct_size
        return max(1, min(n, fits))

    # --- writes ---------------------------------------------------------------------

    def write(self, command: WriteCommand) -> Result:
        """One command; returns its Result (a rejection is a Result, not an error). A
        command naming a buyer goes to the buyer's partition."""
        return self._write_batch([command], buyer=getattr(command, "buyer", None))[0]

    def write_batch(self, commands: Iterable[WriteCommand], *, errors_only: bool = False,
                    batch: int | None = None, window: int = 8,
                    progress: Callable[[int, int], None] | None = None) -> list[Result]:
        """Commands of one kind, in frames of `batch` with up to `window` frames in flight;
        the results in the commands' order. With `errors_only` the server sends only the
        non-ok results, and ok ones come back as Result(Code.ok) without amounts.
        Commands without an id get a random one (stored on the command). The frames in
        flight are not ordered relative to each other: for a write that must follow
        another, wait for the first one's result. `progress(done, total)` is called after
        each frame's reply."""
        return self._write_batch(commands, errors_only=errors_only, batch=batch, window=window,
                                 progress=progress)

    def _write_batch(self, commands: Iterable[WriteCommand], *, errors_only: bool = False,
                     batch: int | None = None, window: int = 8,
                     progress: Callable[[int, int], None] | None = None,
                     buyer: int | None = None) -> list[Result]:
        commands = list(commands)
        if not commands:
            return []
        kind = type(commands[0])
        if not isinstance(commands[0], WriteCommand):
            raise TypeError(f"{kind.__name__} is not a write command")
        for c in commands:
            if type(c) is not kind:
                raise TypeError(f"a batch holds one kind of command: {kind.__name__} and "
                                f"{type(c).__name__}")
        results: list = [None] * len(commands)
        chunk = self._chunk(kind.STRUCT.size, batch)
        total = len(commands)
        done = [0]

        def on_done(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        jobs = (_WriteJob(commands[i:i + chunk], i, results, errors_only, on_done)
                for i in range(0, total, chunk))
        self._pipeline(jobs, window, buyer)
        return results

    def credit(self, seller: int, buyer: int, amount: int, *, ttl_us: int | None = None,
               expires_at_us: int | None = None, never: bool = False, campaign: int = 0,
               reason: int = 0, id: int | None = None) -> Result:
        """A new lot. Life: ttl_us, expires_at_us, never, or (none given) the seller's
        default. Result amount: credited after caps; aux: debt repaid."""
        return self.write(Credit(seller, buyer, amount, campaign,
                                 Life.of(ttl_us, expires_at_us, never), reason, id=id))

    def accrue(self, order: int, seller: int, buyer: int, amount: int = 0, *,
               price_kopecks: int = 0, ttl_us: int | None = None,
               expires_at_us: int | None = None, never: bool = False,
               id: int | None = None) -> Result:
        """Pending cashback for an order. The life starts at confirmation (absolute
        expiry is invalid_expiry). amount 0 with price_kopecks: the price at the buyer's
        rate now (rounded down; no rate set: invalid_price). The price counts in the
        buyer's purchases (tiers) once confirmed. Result amount: pending amount; aux: the
        rate used (basis points) when by price."""
        return self.write(Accrue(order, seller, buyer, amount,
                                 Life.of(ttl_us, expires_at_us, never), price_kopecks, id=id))

    def confirm_accrual(self, order: int, *, id: int | None = None) -> Result:
        """Result amount: credited (caps applied); aux: debt repaid."""
        return self.write(ConfirmAccrual(order, id=id))

    def cancel_accrual(self, order: int, *, id: int | None = None) -> Result:
        """Result amount: the accrual cancelled."""
        return self.write(CancelAccrual(order, id=id))

    def hold(self, order: int, seller: int, buyer: int, amount: int, goods_total_kopecks: int,
             *, timeout_us: int = 0, id: int | None = None) -> Result:
        """Reserve bonuses for an order (timeout 0: 15 minutes). Result amount: held."""
        return self.write(Hold(order, seller, buyer, amount, goods_total_kopecks, timeout_us,
                               id=id))

    def capture(self, order: int, amount: int | None = None, *,
                id: int | None = None) -> Result:
        """Spend `amount` of the hold (None: all of it; 0 is zero_amount). Result amount:
        spent; aux: released rest."""
        return self.write(Capture(order, amount, id=id))

    def release(self, order: int, *, id: int | None = None) -> Result:
        """Return the held bonuses. Result amount: released; aux: debt repaid (returned
        bonuses repay debt first); expired: what came back dead and expired at once."""
        return self.write(Release(order, id=id))

    def spend(self, order: int, seller: int, buyer: int, amount: int, goods_total_kopecks: int,
              *, id: int | None = None) -> Result:
        """Hold and capture at once (point of sale). Result amount: spent."""
        return self.write(Spend(order, seller, buyer, amount, goods_total_kopecks, id=id))

    def refund(self, order: int, amount: int | None = None, *,
               id: int | None = None) -> Result:
        """Return captured bonuses (amount None: all not yet refunded; 0 is zero_amount).
        Result amount: refunded; aux: debt repaid; expired: what came back dead and expired
        at once."""
        return self.write(Refund(order, amount, id=id))

    def reverse_accrual(self, order: int, *, id: int | None = None) -> Result:
        """Take back confirmed cashback. Result amount: reversed; aux: new debt."""
        return self.write(ReverseAccrual(order, id=id))

    def referral(self, seller: int, referrer: int, friend: int, amount: int, *,
                 friend_amount: int | None = None, ttl_us: int | None = None,
                 expires_at_us: int | None = None, never: bool = False, campaign: int = 0,
                 id: int | None = None) -> Result:
        """Credits the referrer `amount` and the friend `friend_amount` (default: amount),
        reason referral, under one id. Result amount: the referrer's credited; aux: the
        friend's (after caps). referrer == friend is invalid_referral."""
        return self.write(Referral(seller, referrer, friend, amount,
                                   amount if friend_amount is None else friend_amount, campaign,
                                   Life.of(ttl_us, expires_at_us, never), id=id))

    def revoke_campaign(self, seller: int, campaign: int, *, id: int | None = None) -> Result:
        """The campaign's unspent bonuses expire now. Result amount: expired."""
        return self.write(RevokeCampaign(seller, campaign, id=id))

    def set_policy(self, seller: int, *, spend_share_bp: int | None = None,
                   balance_max: int | None = None, earn_month_max: int | None = None,
                   lot_life_us: int | None = None, rate_bp: int | None = None,
                   tiers: Iterable[tuple[int, int]] | None = None,
                   tier_window_days: int | None = None, id: int | None = None) -> Result:
        """Changes the fields given (not None), only those. tiers: (threshold_kopecks,
        rate_bp) ascending, up to 8 (() removes them; tiers need a rate)."""
        return self.write(SetPolicy.of(seller, spend_share_bp=spend_share_bp,
                                       balance_max=balance_max, earn_month_max=earn_month_max,
                                       lot_life_us=lot_life_us, rate_bp=rate_bp, tiers=tiers,
                                       tier_window_days=tier_window_days, id=id))

    # Batch variants: one kind each, as write_batch.
    def credit_batch(self, commands: Iterable[Credit], **kw) -> list[Result]:
        return self._typed_batch(Credit, commands, kw)

    def accrue_batch(self, commands: Iterable[Accrue], **kw) -> list[Result]:
        return self._typed_batch(Accrue, commands, kw)

    def confirm_accrual_batch(self, commands: Iterable[ConfirmAccrual], **kw) -> list[Result]:
        return self._typed_batch(ConfirmAccrual, commands, kw)

    def cancel_accrual_batch(self, commands: Iterable[CancelAccrual], **kw) -> list[Result]:
        return self._typed_batch(CancelAccrual, commands, kw)

    def hold_batch(self, commands: Iterable[Hold], **kw) -> list[Result]:
        return self._typed_batch(Hold, commands, kw)

    def capture_batch(self, commands: Iterable[Capture], **kw) -> list[Result]:
        return self._typed_batch(Capture, commands, kw)

    def release_batch(self, commands: Iterable[Release], **kw) -> list[Result]:
        return self._typed_batch(Release, commands, kw)

    def spend_batch(self, commands: Iterable[Spend], **kw) -> list[Result]:
        return self._typed_batch(Spend, commands, kw)

    def refund_batch(self, commands: Iterable[Refund], **kw) -> list[Result]:
        return self._typed_batch(Refund, commands, kw)

    def reverse_accrual_batch(self, commands: Iterable[ReverseAccrual], **kw) -> list[Result]:
        return self._typed_batch(ReverseAccrual, commands, kw)

    def revoke_campaign_batch(self, commands: Iterable[RevokeCampaign], **kw) -> list[Result]:
        return self._typed_batch(RevokeCampaign, commands, kw)

    def set_policy_batch(self, commands: Iterable[SetPolicy], **kw) -> list[Result]:
        return self._typed_batch(SetPolicy, commands, kw)

    def referral_batch(self, commands: Iterable[Referral], **kw) -> list[Result]:
        return self._typed_batch(Referral, commands, kw)

    def _typed_batch(self, kind: type, commands: Iterable, kw: dict) -> list[Result]:
        commands = list(commands)
        for c in commands:
            if type(c) is not kind:
                raise TypeError(f"expected {kind.__name__}, got {type(c).__name__}")
        return self.write_batch(commands, **kw)

    # --- mail -----------------------------------------------------------------------

    def mail(self, seller: int, campaign: int, amount: int, ttl_us: int | None,
             buyers: Iterable[int], batch: int = 4096, window: int = 8,
             progress: Callable[[MailSummary], None] | None = None, *,
             reason: int = 0) -> MailSummary:
        """Credits `amount` bonuses under `campaign` (not 0) to every buyer, living `ttl_us`
        (None: the seller's default lot life), in pipelined frames of `batch` credits.

        Each credit's id is mail_id(seller, campaign, buyer), so running the same mailing
        again (same amount, ttl and reason) credits nobody twice: buyers already credited
        answer as repeats (within the server's idempotency window, --id-window-s, one day
        by default). A rerun with another amount or ttl is rejected id_reused for the
        buyers already credited. `progress(summary)` is called after each frame's reply."""
        if campaign == 0:
            raise ValueError("mail needs a campaign id above 0: it names the mailing in its ids")
        life = Life.default() if ttl_us is None else Life.ttl(ttl_us)
        hi = mail_id_hi(seller, campaign)
        try:
            template = Credit.STRUCT.pack(hi, 0, seller, 0, amount, campaign, life.kind,
                                          life.value, reason)
        except Exception as e:
            raise ValueError(f"mail: a field is out of range ({e})") from None
        summary = MailSummary()
        chunk = self._chunk(Credit.STRUCT.size, batch)
        began = time.monotonic()
        it = iter(buyers)

        def jobs() -> Iterator[_Job]:
            while True:
                part = array("Q", itertools.islice(it, chunk))
                if not part:
                    return
                yield _MailJob(part, template, summary, progress)

        try:
            self._pipeline(jobs(), window)
        finally:
            summary.seconds = time.monotonic() - began
        return summary

    # --- reads ----------------------------------------------------------------------

    def balance(self, seller: int, buyer: int, with_lots: bool = False) -> Account:
        """One account: available, held, pending, debt, next expiry (and its lots)."""
        body = self.request(wire.OP_BALANCE, wire.encode_balance([(seller, buyer)], with_lots),
                            buyer=buyer)
        accounts = self._decode(wire.decode_accounts, body, b"BALR")
        if len(accounts) != 1:
            raise BonusBadReply(f"{len(accounts)} accounts for 1 asked")
        return accounts[0]

    def balances(self, keys: Iterable[tuple[int, int]], with_lots: bool = False, *,
                 batch: int | None = None, window: int = 8) -> list[Account]:
        """Many accounts, (seller, buyer) each, in the keys' order; pipelined frames. A key
        given twice is asked for once (the server refuses duplicate_key); a frame refused
        batch_too_large (past the server's --lots-per-reply-max) is asked again in halves."""
        keys = [tuple(k) for k in keys]
        distinct = list(dict.fromkeys(keys))
        results: list = [None] * len(distinct)
        chunk = self._chunk(16, batch)
        jobs = (_BalanceJob(distinct[i:i + chunk], with_lots, i, results)
                for i in range(0, len(distinct), chunk))
        self._pipeline(jobs, window)
        if len(distinct) == len(keys):
            return results
        at = {k: i for i, k in enumerate(distinct)}
        return [results[at[k]] for k in keys]

    def cart(self, buyer: int, lines: Iterable[tuple[int, int]], soon_us: int = 0) -> list[CartEntry]:
        """The cart screen: per (seller, goods_total_kopecks) line, what is spendable now,
        pending and expiring within `soon_us`; one entry per line in order."""
        lines = list(lines)
        body = self.request(wire.OP_CART, wire.encode_cart(buyer, lines, soon_us), buyer=buyer)
        entries = self._decode(wire.decode_cart_reply, body)
        if len(entries) != len(lines):
            raise BonusBadReply(f"{len(entries)} cart entries for {len(lines)} lines")
        return entries

    def wallet(self, buyer: int) -> list[Account]:
        """Every account of the buyer with something in it, by seller (no lots)."""
        body = self.request(wire.OP_WALLET, wire.encode_wallet(buyer), buyer=buyer)
        return self._decode(wire.decode_accounts, body, b"WALR")

    def expiring_page(self, seller: int, within_us: int, limit: int = 0,
                      cursor: ExpiringCursor | None = None) -> ExpiringPage:
        """One page of `expiring`; pass the page's `next` back until `done`."""
        body = self.request(wire.OP_EXPIRING, wire.encode_expiring(seller, within_us, limit, cursor))
        return self._decode(wire.decode_expiring_reply, body)

    def expiring(self, seller: int, within_us: int, limit: int = 0) -> Iterator[ExpiringEntry]:
        """The seller's buyers with bonuses expiring within `within_us` from now: a
        generator that follows the cursor page by page (`limit` entries per page at most;
        0: the server's maximum). Not a snapshot: writes between pages may show."""
        return _follow(lambda cursor: self.expiring_page(seller, within_us, limit, cursor),
                       lambda page: page.entries)

    def history_page(self, seller: int, buyer: int, limit: int = 0,
                     cursor: HistoryCursor | None = None) -> HistoryPage:
        """One page of an account's statement, newest first (`limit` events at most; 0 or
        past 1000: 1000); pass the page's `next` back until `done`. Served from the
        server's history, behind the ledger by up to a second: the page's `position` says
        which log position it reflects. FrameError.history_unavailable when the server
        keeps no history."""
        body = self.request(wire.OP_HISTORY, wire.encode_history(seller, buyer, limit, cursor))
        return self._decode(wire.decode_history_reply, body)

    def history(self, seller: int, buyer: int, limit: int = 0) -> Iterator[HistoryEvent]:
        """Every event of the account, newest first: a generator over the pages."""
        return _follow(lambda cursor: self.history_page(seller, buyer, limit, cursor),
                       lambda page: page.events)

    def order_page(self, order: int, limit: int = 0,
                   cursor: HistoryCursor | None = None) -> HistoryPage:
        """One page of an order's events, oldest first: what it accrued, held, spent,
        refunded."""
        body = self.request(wire.OP_ORDER, wire.encode_order(order, limit, cursor))
        return self._decode(wire.decode_history_reply, body)

    def order(self, order: int) -> list[HistoryEvent]:
        """Every event of the order, oldest first."""
        return list(_follow(lambda cursor: self.order_page(order, 0, cursor),
                            lambda page: page.events))

    def seller_stats(self, seller: int) -> SellerStats:
        body = self.request(wire.OP_STATS, wire.encode_stats(seller, 0))
        return self._decode(wire.decode_seller_stats, body)

    def campaign_stats(self, seller: int, campaign: int) -> CampaignStats:
        if campaign == 0:
            raise ValueError("campaign 0 is no campaign: use seller_stats")
        body = self.request(wire.OP_STATS, wire.encode_stats(seller, campaign))
        return self._decode(wire.decode_campaign_stats, body)

    def segment_page(self, seller: int, *, inactive_us: int | None = None,
                     bought_within_us: int | None = None, unspent_campaign: int | None = None,
                     limit: int = 0, cursor: tuple[int, int] | None = None
                     ) -> tuple[list[int], tuple[int, int] | None, bool]:
        """One page of a seller's segment: (buyers, next cursor, done). Give exactly one of
        inactive_us (bought, not within it), bought_within_us, unspent_campaign (received
        its bonuses, spent none). A page may be short or empty and not done."""
        if (inactive_us is not None) + (bought_within_us is not None) + (unspent_campaign is not None) != 1:
            raise ValueError("give one of inactive_us, bought_within_us, unspent_campaign")
        if unspent_campaign is not None:
            kind, campaign, period = wire.SEGMENT_UNSPENT, unspent_campaign, 0
        elif inactive_us is not None:
            kind, campaign, period = wire.SEGMENT_INACTIVE, 0, inactive_us
        else:
            kind, campaign, period = wire.SEGMENT_BOUGHT_WITHIN, 0, bought_within_us
        body = self.request(wire.OP_SEGMENT,
                            wire.encode_segment(seller, kind, campaign, period, limit, cursor))
        return self._decode(wire.decode_segment_reply, body)

    def segment(self, seller: int, *, limit: int = 0, **kind) -> Iterator[int]:
        """The segment's buyer ids: a generator that follows the cursor page by page
        (segment_page's keywords). Not a snapshot: writes between pages may show."""
        cursor = None
        while True:
            buyers, cursor, done = self.segment_page(seller, limit=limit, cursor=cursor, **kind)
            yield from buyers
            if done:
                return

    def policy(self, seller: int) -> Policy:
        """The seller's policy as it is (the defaults for a seller that never set one)."""
        body = self.request(wire.OP_POLICY, wire.encode_policy(seller))
        return self._decode(wire.decode_policy_reply, body)

    def month_report(self, seller: int, month: str) -> MonthReport:
        """The seller's calendar month "YYYY-MM" (Moscow time; kept for 24 months)."""
        body = self.request(wire.OP_REPORT, wire.encode_report(seller, wire.month_index(month)))
        return self._decode(wire.decode_report_reply, body)

    def _admin(self, action: int, clock_advance_us: int = 0) -> AdminStatus:
        body = self.request(wire.OP_ADMIN, wire.encode_admin(action, clock_advance_us))
        return self._decode(wire.decode_admin_reply, body)

    def admin_status(self) -> AdminStatus:
        """Ledger time, accounts, shards, test clock, journal bytes, durability."""
        return self._admin(wire.ADMIN_STATUS)

    def audit(self) -> AdminStatus:
        """Checks the conservation invariant on every shard: `ok` False and `message`
        naming the first violation when it fails."""
        return self._admin(wire.ADMIN_AUDIT)

    def checkpoint(self) -> AdminStatus:
        """Asks the server for a checkpoint."""
        return self._admin(wire.ADMIN_CHECKPOINT)

    def forget_node(self, node: str) -> AdminStatus:
        """A leader and its standbys (bonusd --log jetstream): node `node` (its --node
        name), gone for good, stops holding back the log's trimming. `ok` False, with
        why, for an unknown node, a running one, or the node asked."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", node):
            raise ValueError(f"node: {node!r} is not 1..64 of [A-Za-z0-9_-]")
        body = self.request(wire.OP_ADMIN,
                            wire.encode_admin(wire.ADMIN_FORGET_NODE, node=node))
        return self._decode(wire.decode_admin_reply, body)

    def clock_advance(self, us: int) -> AdminStatus:
        """Moves the ledger time forward by `us` > 0 (bonusd --test-clock only, else
        BonusError test_clock_disabled); runs a full sweep at the new time."""
        return self._admin(wire.ADMIN_CLOCK_ADVANCE, us)

    def limits(self) -> AdminStatus:
        """The ledger's limits, in `.limits`."""
        return self._admin(wire.ADMIN_LIMITS)

    def set_limits(self, *, accounts_max: int | None = None, orders_max: int | None = None,
                   ids_max: int | None = None, id_window_us: int | None = None,
                   order_retention_us: int | None = None, rejected_ids_max: int | None = None,
                   rejected_id_window_us: int | None = None, id: int | None = None) -> AdminStatus:
        """Changes the limits given (not None) on purpose: journaled, applied by every
        shard, then bonusd's manifest follows. `.limits_code` is the command's result
        (Code.invalid_limits out of range; a retry with the same id is a repeat, ok);
        `.limits` the limits after it. Without an id a random one is used."""
        values = [accounts_max, orders_max, ids_max, id_window_us, order_retention_us,
                  rejected_ids_max, rejected_id_window_us]
        bits = sum(1 << i for i, v in enumerate(values) if v is not None)
        if id is None:
            id = secrets.randbits(128) or 1
        command = (id, bits, *[v or 0 for v in values])
        body = self.request(wire.OP_ADMIN, wire.encode_admin(wire.ADMIN_SET_LIMITS, 0, command))
        return self._decode(wire.decode_admin_reply, body)

    def ping(self) -> float:
        """Round-trip time in seconds."""
        began = time.perf_counter()
        self.request(wire.OP_PING)
        return time.perf_counter() - began
