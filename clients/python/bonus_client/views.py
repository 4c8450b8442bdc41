"""Answers to the queries (engine/views.h and protocol/README.md), as frozen dataclasses.
Times are ledger µs since the Unix epoch; TIME_NEVER (2**63 - 1) means "never"."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .commands import TIME_NEVER

__all__ = ["MonthReport", "Reason", "LotOrigin", "Lot", "Account", "CartEntry", "Policy", "ExpiringEntry", "ExpiringCursor",
           "ExpiringPage", "SellerStats", "CampaignStats", "AdminStatus", "EventKind",
           "HistoryEvent", "HistoryCursor", "HistoryPage"]


class Reason(enum.IntEnum):
    """Why a credit was given (engine/reason.h), kept on its lot. 6..15 are reserved;
    16..255 are a seller's own codes (plain ints here); anything else is invalid_reason.
    Confirmed accruals (cashback) have none."""

    none = 0
    mailing = 1
    gift = 2
    apology = 3
    referral = 4
    manual = 5


class LotOrigin(enum.IntEnum):
    campaign = 0  # origin_id: the campaign id, 0 for none
    order = 1     # origin_id: the order of a confirmed accrual


@dataclass(frozen=True, slots=True)
class Lot:
    amount: int
    expires_at_us: int
    origin: LotOrigin
    origin_id: int
    reason: int = 0  # a Reason, or a seller's own code 16..255


@dataclass(frozen=True, slots=True)
class Account:
    """One account (seller, buyer): balance and wallet answers."""

    seller: int
    buyer: int
    exists: bool
    available: int  # spendable now
    held: int       # reserved by open holds
    pending: int    # accrued, not yet confirmed
    debt: int       # owed after reverse_accrual
    next_expiry_us: int  # soonest expiry of an available lot; TIME_NEVER if none
    next_expiry_amount: int
    lots: tuple[Lot, ...] | None = None  # with_lots only: unexpired lots, soonest first
    # Rates and tiers: the tier reached (0: the base rate), its rate (0: none set), the
    # purchases in the window, what the next tier still needs (0: at the top), the last
    # purchase (0: none).
    tier: int = 0
    rate_bp: int = 0
    purchases_kopecks: int = 0
    next_tier_kopecks: int = 0
    last_purchase_us: int = 0

    @property
    def next_expiry(self) -> int | None:
        """next_expiry_us, or None for never."""
        return None if self.next_expiry_us == TIME_NEVER else self.next_expiry_us


@dataclass(frozen=True, slots=True)
class CartEntry:
    seller: int
    available: int
    spendable: int      # what this order may be paid with (the spend cap applied)
    pending: int
    expiring_soon: int  # of available, expiring within the query's soon_us
    next_expiry_us: int
    # What buying the line would earn: goods_total at the buyer's rate (`rate_bp` of
    # `tier`), less debt, cut by the month's allowance left and the balance cap's room.
    earn: int = 0
    tier: int = 0
    rate_bp: int = 0
    earn_month_room: int = 0
    balance_room: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    """A seller's policy (engine/policy.h)."""

    seller: int
    spend_share_bp: int
    balance_max: int
    earn_month_max: int
    lot_life_us: int  # TIME_NEVER: lots never expire
    rate_bp: int  # 0: no rate (accrue by price is invalid_price)
    tier_window_days: int
    tiers: tuple[tuple[int, int], ...]  # (threshold_kopecks, rate_bp), ascending


@dataclass(frozen=True, slots=True)
class ExpiringEntry:
    buyer: int
    amount: int           # expiring within the window
    first_expiry_us: int


@dataclass(frozen=True, slots=True)
class ExpiringCursor:
    """Opaque: pass back only what the server sent."""

    shard: int
    after_account: int
    bucket: int


@dataclass(frozen=True, slots=True)
class ExpiringPage:
    entries: tuple[ExpiringEntry, ...]
    next: ExpiringCursor | None  # None when done
    done: bool


class EventKind(enum.IntEnum):
    """What changed an account (engine/ledger_event.h)."""
    credited = 1
    accrued = 2
    confirmed = 3
    cancelled = 4
    reversed = 5
    held = 6
    spent = 7
    released = 8
    timed_out = 9
    refunded = 10
    expired = 11
    revoked = 12


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One event of a statement: what changed the account, and its figures after it."""
    position: int       # the log position of the command that made it
    index: int          # its place among that command's events
    kind: EventKind
    ref_kind: int       # 0 none, 1 campaign, 2 order: what `ref` names
    seller: int
    buyer: int
    ref: int
    time_us: int
    amount: int
    debt_part: int      # of amount: repaid debt (reversed: became debt)
    expired_part: int   # of amount: came back dead (released, timed_out, refunded)
    reason: int         # credited: the credit's reason code
    balance_after: int  # in lots, unexpired or not yet swept
    held_after: int
    pending_after: int
    debt_after: int


@dataclass(frozen=True, slots=True)
class HistoryCursor:
    """Opaque: pass back only what the server sent."""
    position: int
    index: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    events: tuple[HistoryEvent, ...]
    next: HistoryCursor | None  # None when done
    done: bool
    position: int           # every event up to this log position is in
    complete_from: int      # events before this position may be missing (0: none)
    trimmed_before_us: int  # events before this ledger time were trimmed


@dataclass(frozen=True, slots=True)
class SellerStats:
    issued: int
    accrued: int
    spent: int
    expired: int
    refunded: int
    reversed: int
    held: int
    pending: int
    debt: int
    outstanding: int  # issued - spent + refunded - expired - reversed


@dataclass(frozen=True, slots=True)
class MonthReport:
    """A seller's calendar month (marketplace calendar, UTC+3), summed over the shards."""

    seller: int
    month: str         # "2026-11"
    accrued: int       # pending accruals made
    confirmed: int     # credited by confirmations
    credited: dict     # credits by reason: none, mailing, gift, apology, referral, manual, own
    spent: int
    refunded: int
    reversed: int
    expired: int
    orders: int                # captured orders (captures and spends)
    orders_goods_kopecks: int  # their goods totals

    @property
    def cost_share(self) -> float | None:
        """Spent bonuses (a rouble each) as a share of those orders' goods; None with none."""
        return self.spent * 100 / self.orders_goods_kopecks if self.orders_goods_kopecks else None


@dataclass(frozen=True, slots=True)
class CampaignStats:
    issued: int
    spent: int
    expired: int
    refunded: int
    reversed: int
    outstanding: int
    recipients: int  # buyers that received a lot of the campaign
    spenders: int    # of those, buyers that spent from one
    revoked: bool
    revoked_amount: int = 0  # what the revoke took (expired is then by lapse only)
    sales_orders: int = 0    # orders that spent the campaign's bonuses, each once
    sales_kopecks: int = 0   # their goods totals: the sales the campaign brought

    @property
    def cost_share(self) -> float | None:
        """Spent bonuses (a rouble each) as a share of the sales; None with no sales."""
        return self.spent * 100 / self.sales_kopecks if self.sales_kopecks else None

    @property
    def conversion(self) -> float:
        """The share of recipients who spent from the mailing (0.0 with no recipients)."""
        return self.spenders / self.recipients if self.recipients else 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The ledger's limits (bonusd's manifest; changed by Client.set_limits)."""
    accounts_max: int
    orders_max: int
    ids_max: int
    id_window_us: int
    order_retention_us: int
    rejected_ids_max: int
    rejected_id_window_us: int
    changes: int  # set_limits applied over the ledger's life


@dataclass(frozen=True, slots=True)
class Hello:
    """The server's answer to hello: the role granted and what a client needs to know."""
    role: str                # reader, checkout, batch, seller-admin, admin
    protocol_version: int
    shards: int
    body_size_max: int       # the server's --frame-size-max
    batch_commands_max: int  # the server's --batch-commands-max
    in_flight_max: int       # the server's --in-flight-max
    authenticated: bool      # False: the server has no --auth-file (everyone is admin)
    name: str = ""           # the token's name in the auth file
    # Each partition's own port on the host reached (empty: none), and how a buyer maps
    # to a partition ("mix64-mod": mix64(buyer) % shards).
    partition_ports: tuple[int, ...] = ()
    partition_hash: str = ""
    # A log several nodes follow (bonusd --log jetstream): this node's state ("leader",
    # "standby", ...), the leader's address ("" unknown or none now), its log position.
    node_state: str = ""
    leader: str = ""
    log_position: int = 0


@dataclass(frozen=True, slots=True)
class AdminStatus:
    ok: bool
    message: str
    ledger_time_us: int
    accounts: int
    shards: int
    test_clock: bool
    journal_bytes: int
    durability: str
    checkpoint_position: int = 0  # log position of the last durable checkpoint; 0: none
    limits: Limits | None = None  # the ledger's limits (after the change, for set_limits)
    limits_code: int = 0          # set_limits: the command's result code (Code)
    history_position: int = 0     # every event up to this log position is in history
    history: str = ""             # "on", "off: <why>" or "stopped: <why>" (writes go on)
    node_state: str = ""          # bonusd --log jetstream: "leader", "standby", ...
    leader: str = ""              # the leader's address; "" unknown or none now
    log_position: int = 0         # the log position handed to the shards
    state_hash: int = 0           # audit: every shard's state hash, folded in shard order
