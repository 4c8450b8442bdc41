"""Write commands (engine/command.h) as dataclasses, their wire structs
(protocol/README.md, "Command structs"), ids, and the write `Result`.

Every command has a 128-bit `id` (an int, 0 < id < 2**128). Leave it None and the client
fills in a random one when it sends the command (and stores it on the object, so a
failed send can be retried with the same id). A retry with the same id and body returns
the original result flagged `repeat` and changes nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from .codes import Code

__all__ = [
    "TIME_NEVER", "US_PER_SECOND", "US_PER_MINUTE", "US_PER_HOUR", "US_PER_DAY",
    "Life", "Result", "WriteCommand", "Credit", "Accrue", "ConfirmAccrual", "CancelAccrual",
    "Hold", "Capture", "Release", "Spend", "Refund", "ReverseAccrual", "RevokeCampaign",
    "SetPolicy", "Referral", "WRITE_KINDS", "new_id", "split_id", "make_id", "AMOUNT_ALL",
]

TIME_NEVER = 2**63 - 1  # engine kTimeNever: "no expiry"
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_U64 = (1 << 64) - 1

# engine kAmountAll: the wire amount of a Capture or Refund that means "all" (the whole
# hold; all not yet refunded). Capture and Refund send it for amount=None. An amount of
# 0 is never "all": the ledger answers zero_amount.
AMOUNT_ALL = _U64


def new_id() -> int:
    """A random, non-zero 128-bit write id."""
    while True:
        value = secrets.randbits(128)
        if value:
            return value


def make_id(hi: int, lo: int) -> int:
    """The 128-bit id whose wire halves are (hi, lo)."""
    if not (0 <= hi <= _U64 and 0 <= lo <= _U64):
        raise ValueError("id halves are unsigned 64-bit")
    return hi << 64 | lo


def split_id(value: int) -> tuple[int, int]:
    """(hi, lo) of a 128-bit id."""
    if not 0 <= value < 1 << 128:
        raise ValueError(f"id {value!r} is not an unsigned 128-bit integer")
    return value >> 64, value & _U64


class Life(NamedTuple):
    """How a lot's expiry is chosen (engine/lot_life.h)."""

    kind: int = 0  # 0 seller's default, 1 ttl, 2 absolute, 3 never
    value: int = 0  # µs: the ttl, or the absolute expiry

    POLICY_DEFAULT = 0
    TTL = 1
    ABSOLUTE = 2
    NEVER = 3

    @classmethod
    def default(cls) -> "Life":
        return cls(0, 0)

    @classmethod
    def ttl(cls, ttl_us: int) -> "Life":
        return cls(1, ttl_us)

    @classmethod
    def at(cls, expires_at_us: int) -> "Life":
        return cls(2, expires_at_us)

    @classmethod
    def never(cls) -> "Life":
        return cls(3, 0)

    @classmethod
    def of(cls, ttl_us: int | None = None, expires_at_us: int | None = None,
           never: bool = False) -> "Life":
        """From the keyword form the typed methods take; at most one may be given."""
        given = (ttl_us is not None) + (expires_at_us is not None) + bool(never)
        if given > 1:
            raise ValueError("give at most one of ttl_us, expires_at_us, never")
        if ttl_us is not None:
            return cls.ttl(ttl_us)
        if expires_at_us is not None:
            return cls.at(expires_at_us)
        return cls.never() if never else cls.default()


@dataclass(frozen=True, slots=True)
class Result:
    """What a write returned (engine/result.h). A rejection is a Result, not an exception."""

    code: Code
    flags: int = 0
    amount: int = 0  # the main figure: credited, held, spent, released, refunded, ...
    aux: int = 0     # the second figure: debt repaid, released remainder, new debt, ...
    # refund, release: the part of `amount` that came back already dead and expired at
    # once (its lot's life or campaign was over); capture: that part of the released
    # rest `aux`. The balance got amount - aux - expired (refund, release).
    expired: int = 0

    CAPPED_BALANCE: ClassVar[int] = 1  # a credit was cut by the seller's balance cap
    CAPPED_EARN: ClassVar[int] = 2     # a credit was cut by the monthly earn cap
    REPEAT: ClassVar[int] = 4          # an idempotent repeat: the stored result

    @property
    def ok(self) -> bool:
        return self.code == Code.ok

    @property
    def repeat(self) -> bool:
        """An idempotent repeat: this id was applied before; nothing changed now."""
        return bool(self.flags & Result.REPEAT)

    @property
    def capped(self) -> bool:
        """A credit (or confirmed accrual) was cut by the balance or the earn cap."""
        return bool(self.flags & (Result.CAPPED_BALANCE | Result.CAPPED_EARN))

    def __str__(self) -> str:
        extra = []
        if self.flags & Result.CAPPED_BALANCE:
            extra.append("capped_balance")
        if self.flags & Result.CAPPED_EARN:
            extra.append("capped_earn")
        if self.repeat:
            extra.append("repeat")
        tail = f" [{', '.join(extra)}]" if extra else ""
        expired = f" expired={self.expired}" if self.expired else ""
        return f"{self.code.name} amount={self.amount} aux={self.aux}{expired}{tail}"


class WriteCommand:
    """Base of the write commands. OPCODE, IDENTIFIER (the batch table's file identifier)
    and STRUCT (the wire struct) describe the wire; `_values` lists the struct's fields
    after the id halves."""

    __slots__ = ()
    OPCODE: ClassVar[int]
    IDENTIFIER: ClassVar[bytes]
    STRUCT: ClassVar[struct.Struct]
    NAME: ClassVar[str]

    def _values(self) -> tuple:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    # A batch's side vector (AccrueBatch.prices, SetPolicyBatch.rates): the struct, and
    # each command's values (None: nothing to send). Sent when any command has some.
    SIDE: ClassVar[struct.Struct | None] = None

    def _side(self) -> tuple | None:
        return None

    def pack_into(self, buf, offset: int) -> None:
        """Writes the wire struct; gives the command a random id first if it has none."""
        if self.id is None:  # type: ignore[attr-defined]
            self.id = new_id()  # type: ignore[attr-defined]
        hi, lo = split_id(self.id)  # type: ignore[attr-defined]
        try:
            self.STRUCT.pack_into(buf, offset, hi, lo, *self._values())
        except struct.error as e:
            raise ValueError(f"{self!r}: a field is out of range ({e})") from None


def _amount_or_all(amount: int | None) -> int:
    """A Capture's or Refund's wire amount: None is "all" (AMOUNT_ALL); 0 stays 0."""
    return AMOUNT_ALL if amount is None else amount


def _command(opcode: int, identifier: bytes, fmt: str, name: str):
    def wrap(cls):
        cls.OPCODE = opcode
        cls.IDENTIFIER = identifier
        cls.STRUCT = struct.Struct("<QQ" + fmt)
        cls.NAME = name
        return cls
    return wrap


@_command(1, b"CRDQ", "QQQQB7xqI4x", "credit")
@dataclass(slots=True)
class Credit(WriteCommand):
    """A new lot of `amount` for (seller, buyer); caps cut it (the result says so)."""

    seller: int
    buyer: int
    amount: int
    campaign: int = 0  # 0: no campaign
    life: Life = Life()
    reason: int = 0  # Reason (views.py): 0..5, or a seller's own code 16..255
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.seller, self.buyer, self.amount, self.campaign, self.life[0], self.life[1],
                self.reason)


@_command(2, b"ACRQ", "QQQQB7xq", "accrue")
@dataclass(slots=True)
class Accrue(WriteCommand):
    """Pending cashback for an order: visible, not spendable. Life: default, ttl or never.
    amount 0 with a price (kopecks): the price at the buyer's rate (tier) now, rounded
    down; a price counts in the buyer's purchases once the accrual is confirmed."""

    order: int
    seller: int
    buyer: int
    amount: int
    life: Life = Life()
    price: int = 0  # kopecks; sent in the batch's `prices` vector
    id: int | None = field(default=None, kw_only=True)

    SIDE: ClassVar[struct.Struct] = struct.Struct("<Q")  # AccruePrice

    def _values(self):
        return (self.order, self.seller, self.buyer, self.amount, self.life[0], self.life[1])

    def _side(self) -> tuple | None:
        return (self.price,) if self.price else None


@_command(3, b"CNFQ", "Q", "confirm_accrual")
@dataclass(slots=True)
class ConfirmAccrual(WriteCommand):
    """Order picked up: the pending accrual becomes a lot."""

    order: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order,)


@_command(4, b"CNLQ", "Q", "cancel_accrual")
@dataclass(slots=True)
class CancelAccrual(WriteCommand):
    """Order cancelled before pickup: the pending accrual is removed."""

    order: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order,)


@_command(5, b"HLDQ", "QQQQQq", "hold")
@dataclass(slots=True)
class Hold(WriteCommand):
    """Reserve `amount` for an order; released by itself after `timeout_us` (0: 15 min)."""

    order: int
    seller: int
    buyer: int
    amount: int
    goods_total_kopecks: int
    timeout_us: int = 0
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order, self.seller, self.buyer, self.amount, self.goods_total_kopecks,
                self.timeout_us)


@_command(6, b"CAPQ", "QQ", "capture")
@dataclass(slots=True)
class Capture(WriteCommand):
    """Order paid: spend `amount` of the hold (None, the default: all of it), release
    the rest. An amount of 0 is answered zero_amount."""

    order: int
    amount: int | None = None
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order, _amount_or_all(self.amount))


@_command(7, b"RELQ", "Q", "release")
@dataclass(slots=True)
class Release(WriteCommand):
    """Order abandoned: held bonuses go back to their lots."""

    order: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order,)


@_command(8, b"SPNQ", "QQQQQ", "spend")
@dataclass(slots=True)
class Spend(WriteCommand):
    """Hold and capture in one step (point of sale)."""

    order: int
    seller: int
    buyer: int
    amount: int
    goods_total_kopecks: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order, self.seller, self.buyer, self.amount, self.goods_total_kopecks)


@_command(9, b"RFNQ", "QQ", "refund")
@dataclass(slots=True)
class Refund(WriteCommand):
    """Captured order returned: `amount` (None, the default: all not yet refunded) goes
    back. An amount of 0 is answered zero_amount."""

    order: int
    amount: int | None = None
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order, _amount_or_all(self.amount))


@_command(10, b"RVAQ", "Q", "reverse_accrual")
@dataclass(slots=True)
class ReverseAccrual(WriteCommand):
    """Confirmed cashback of a returned order is taken back (what is missing: debt)."""

    order: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.order,)


@_command(11, b"RVCQ", "QQ", "revoke_campaign")
@dataclass(slots=True)
class RevokeCampaign(WriteCommand):
    """A seller cancels a mailing: its unspent bonuses expire now."""

    seller: int
    campaign: int
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.seller, self.campaign)


@_command(12, b"POLQ", "QIIQQq", "set_policy")
@dataclass(slots=True)
class SetPolicy(WriteCommand):
    """Per-seller policy; only the fields named in `fields` change."""

    SPEND_SHARE: ClassVar[int] = 1
    BALANCE_MAX: ClassVar[int] = 2
    EARN_MONTH_MAX: ClassVar[int] = 4
    LOT_LIFE: ClassVar[int] = 8
    RATE: ClassVar[int] = 16
    TIERS: ClassVar[int] = 32
    TIER_WINDOW: ClassVar[int] = 64
    TIERS_MAX: ClassVar[int] = 8

    seller: int
    fields: int = 0
    spend_share_bp: int = 0  # 1..10000 basis points of the goods total
    balance_max: int = 0
    earn_month_max: int = 0
    lot_life_us: int = 0  # > 0, or TIME_NEVER
    rate_bp: int = 0  # 1..10000 basis points of the price
    tier_window_days: int = 0  # 1..730
    # (threshold_kopecks, rate_bp) ascending, up to 8; sent in the batch's `rates` vector
    tiers: tuple[tuple[int, int], ...] = ()
    id: int | None = field(default=None, kw_only=True)

    SIDE: ClassVar[struct.Struct] = struct.Struct("<IIII" + "QII" * 8)  # PolicyRates

    @classmethod
    def of(cls, seller: int, *, spend_share_bp: int | None = None,
           balance_max: int | None = None, earn_month_max: int | None = None,
           lot_life_us: int | None = None, rate_bp: int | None = None,
           tiers: Iterable[tuple[int, int]] | None = None, tier_window_days: int | None = None,
           id: int | None = None) -> "SetPolicy":
        """Sets the fields given (not None) and only those; tiers=() removes the tiers."""
        fields = ((spend_share_bp is not None) * cls.SPEND_SHARE
                  | (balance_max is not None) * cls.BALANCE_MAX
                  | (earn_month_max is not None) * cls.EARN_MONTH_MAX
                  | (lot_life_us is not None) * cls.LOT_LIFE
                  | (rate_bp is not None) * cls.RATE
                  | (tiers is not None) * cls.TIERS
                  | (tier_window_days is not None) * cls.TIER_WINDOW)
        return cls(seller, fields, spend_share_bp or 0, balance_max or 0, earn_month_max or 0,
                   lot_life_us or 0, rate_bp or 0, tier_window_days or 0,
                   tuple(tuple(t) for t in tiers or ()), id=id)

    def _values(self):
        return (self.seller, self.fields, self.spend_share_bp, self.balance_max,
                self.earn_month_max, self.lot_life_us)

    def _side(self) -> tuple | None:
        if not self.fields & (self.RATE | self.TIERS | self.TIER_WINDOW):
            return None
        if len(self.tiers) > self.TIERS_MAX:
            raise ValueError(f"at most {self.TIERS_MAX} tiers")
        flat: list[int] = []
        for k in range(self.TIERS_MAX):
            threshold, rate = self.tiers[k] if k < len(self.tiers) else (0, 0)
            flat += [threshold, rate, 0]
        return (self.rate_bp, self.tier_window_days, len(self.tiers), 0, *flat)


@_command(13, b"REFQ", "QQQQQQB7xq", "referral")
@dataclass(slots=True)
class Referral(WriteCommand):
    """A buyer brought a friend: both are credited (reason referral) under one id, exactly
    once even on two shards. Result amount: the referrer's credited; aux: the friend's."""

    seller: int
    referrer: int
    friend: int
    referrer_amount: int
    friend_amount: int
    campaign: int = 0  # 0: no campaign
    life: Life = Life()
    id: int | None = field(default=None, kw_only=True)

    def _values(self):
        return (self.seller, self.referrer, self.friend, self.referrer_amount,
                self.friend_amount, self.campaign, self.life[0], self.life[1])


WRITE_KINDS: tuple[type[WriteCommand], ...] = (
    Credit, Accrue, ConfirmAccrual, CancelAccrual, Hold, Capture, Release, Spend, Refund,
    ReverseAccrual, RevokeCampaign, SetPolicy, Referral)

_SIZES = {Credit: 72, Accrue: 64, ConfirmAccrual: 24, CancelAccrual: 24, Hold: 64, Capture: 32,
          Release: 24, Spend: 56, Refund: 32, ReverseAccrual: 24, RevokeCampaign: 32,
          SetPolicy: 56}
for _kind, _size in _SIZES.items():  # protocol/README.md's sizes
    assert _kind.STRUCT.size == _size, (_kind, _kind.STRUCT.size)
    assert dataclasses.is_dataclass(_kind)
