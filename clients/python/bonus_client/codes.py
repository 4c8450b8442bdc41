"""The protocol's numbered codes: engine result codes (engine/code.h) and frame errors
(protocol/frame.h). Numbers are stable and never reused. A number this client does not
know (from a newer server) becomes a pseudo-member named ``unknown_<n>`` instead of an
error, so results from a newer server can still be counted and shown.
"""

from __future__ import annotations

import enum

__all__ = ["Code", "FrameError"]


class _Open(enum.IntEnum):
    @classmethod
    def _missing_(cls, value):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
            member = int.__new__(cls, value)
            member._name_ = f"unknown_{value}"
            member._value_ = value
            return member
        return None

    @property
    def known(self) -> bool:
        """Whether this client knows the number (False for a newer server's code)."""
        return self._name_ in type(self).__members__


class Code(_Open):
    """The result code of every write: engine/code.h, names and numbers as there."""

    ok = 0
    id_zero = 1                     # the write id is all zeros
    id_reused = 2                   # the id was used before with a different body
    insufficient_bonuses = 3        # available balance is below the amount
    over_spend_cap = 4              # amount exceeds the seller's spend cap for the goods total
    unknown_order = 5               # no hold/spend (or accrual) with this order id
    order_already_captured = 6      # the hold was captured already
    hold_timed_out = 7              # the hold passed its timeout and was released
    zero_amount = 8                 # amount must be positive
    overflow = 9                    # an amount or time would leave its range
    expiry_in_past = 10             # absolute expiry at or before now
    order_exists = 11               # a hold/spend (or accrual) with this order id exists
    order_released = 12             # the hold was released already
    order_not_captured = 13         # refund of an order that was never captured
    refund_exceeds_captured = 14    # refund larger than what is left to refund
    capture_exceeds_hold = 15       # partial capture larger than the hold
    accrual_already_confirmed = 16  # confirm/cancel of a confirmed accrual
    accrual_cancelled = 17          # the accrual was cancelled
    accrual_not_confirmed = 18      # reverse of an accrual still pending
    accrual_already_reversed = 19   # reverse twice
    invalid_policy = 20             # a policy field is out of range
    invalid_expiry = 21             # expiry form not allowed for this command
    campaign_revoked = 22           # credit under a campaign the seller revoked
    invalid_campaign = 23           # revoke of campaign 0
    accounts_full = 24              # the account table is at its configured bound
    ids_full = 25                   # the idempotency table is at its bound within the window
    account_lots_full = 26          # the account holds the maximum number of lots
    orders_full = 27                # the order table is at its configured bound
    invalid_timeout = 28            # hold timeout out of range
    invalid_limits = 29             # set_limits: no field named, or a value out of range
    shards_disagree = 30            # a seller-wide command's shards answered apart (a server bug)
    invalid_price = 31              # accrue: price above the goods maximum, or by price with no rate set
    invalid_reason = 32             # a credit's reason is not 0..5 nor 16..255
    invalid_referral = 33           # a referral's referrer and friend are the same buyer


class FrameError(_Open):
    """Why a request was not served (an ErrorReply): protocol/frame.h, FrameError."""

    none = 0
    bad_magic = 1             # framing lost: the server closes the connection
    bad_version = 2           # framing lost
    bad_header_crc = 3        # framing lost
    frame_too_large = 4       # framing lost
    bad_body_crc = 5
    unknown_opcode = 6
    malformed_body = 7
    batch_too_large = 8
    too_many_in_flight = 9
    shutting_down = 10
    test_clock_disabled = 11
    storage_failed = 12
    too_many_connections = 13  # sent once, then the connection is closed
    unauthenticated = 14  # the connection has not said hello with a valid token
    forbidden = 15  # the connection's role does not allow this operation
    duplicate_key = 16  # the same account (balance) or seller (cart) twice in one request
    frame_timeout = 17  # a frame did not complete in --frame-timeout-ms: the server closed
    idle_timeout = 18  # no request for --idle-timeout-s: the server closed the connection
    history_unavailable = 19  # statements: history is off, or its store could not be read
    not_leader = 20  # a standby of a replicated log: writes go to the leader (the message names it)
    position_unreached = 21  # flag position: the node did not reach the position in time

    @property
    def framing_lost(self) -> bool:
        """After these the server closes the connection."""
        return self in (FrameError.bad_magic, FrameError.bad_version,
                        FrameError.bad_header_crc, FrameError.frame_too_large,
                        FrameError.too_many_connections, FrameError.frame_timeout,
                        FrameError.idle_timeout)
