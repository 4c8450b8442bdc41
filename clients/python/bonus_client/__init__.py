"""bonus_client: a pure-Python (standard library only) client of bonusd, the bonus ledger
server, for batch jobs. See clients/python/README.md and protocol/README.md.

    from bonus_client import Client, Code
    with Client("127.0.0.1", 7400) as ledger:
        r = ledger.credit(seller=7, buyer=42, amount=300, ttl_us=24 * US_PER_HOUR, campaign=9)
        if not r.ok:
            print("rejected:", r.code.name)
"""

from .client import (BonusBadReply, BonusDisconnected, BonusError, BonusTimeout, Client,
                     MAIL_ID_TAG, MailSummary, hash_pair, mail_id, mail_id_hi, mix64,
                     tls_context)
from .codes import Code, FrameError
from .commands import (AMOUNT_ALL, TIME_NEVER, US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND,
                       WRITE_KINDS, Accrue, CancelAccrual, Capture, ConfirmAccrual, Credit, Hold,
                       Life, Referral, Refund, Release, Result, ReverseAccrual, RevokeCampaign, SetPolicy,
                       Spend, WriteCommand, make_id, new_id, split_id)
from .crc32c import crc32c
from .views import (Account, AdminStatus, CampaignStats, EventKind, Hello, CartEntry,
                    ExpiringCursor, ExpiringEntry, ExpiringPage, HistoryCursor, HistoryEvent,
                    HistoryPage, Limits, Lot, LotOrigin, MonthReport, Policy, Reason,
                    SellerStats)

__all__ = [
    "Client", "tls_context", "BonusError", "BonusTimeout", "BonusDisconnected", "BonusBadReply", "MailSummary",
    "MAIL_ID_TAG", "mail_id", "mail_id_hi", "hash_pair", "mix64", "Code", "FrameError", "TIME_NEVER",
    "AMOUNT_ALL",
    "US_PER_SECOND", "US_PER_MINUTE", "US_PER_HOUR", "US_PER_DAY", "WRITE_KINDS", "WriteCommand",
    "Credit", "Accrue", "ConfirmAccrual", "CancelAccrual", "Hold", "Capture", "Release", "Spend",
    "Refund", "ReverseAccrual", "RevokeCampaign", "SetPolicy", "Referral", "Life", "Result", "make_id",
    "new_id", "split_id", "crc32c", "Account", "Lot", "LotOrigin", "Reason", "MonthReport", "CartEntry", "ExpiringEntry",
    "ExpiringCursor", "ExpiringPage", "SellerStats", "CampaignStats", "AdminStatus", "Limits",
    "Hello", "Policy", "EventKind", "HistoryEvent", "HistoryCursor", "HistoryPage",
]
