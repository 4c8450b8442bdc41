// All fixed limits of the engine in one place, with the relations between them.
// Configurable bounds (table sizes, windows) live in EngineConfig (ledger_config.h).
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus {

// Largest amount a single command may carry; larger is `overflow`.
inline constexpr Amount kAmountMax = 1'000'000'000;
// Account-level figures (available, held, pending, debt, earned) are stored in 32 bits;
// a command that would push one past this is rejected with `overflow`.
inline constexpr Amount kAccountAmountMax = 0xFFFF'FFFFull;
static_assert(kAmountMax <= kAccountAmountMax);
// The amount of a capture or refund that means "all": the whole hold, or all of the
// order not yet refunded. Only those two commands take it; anywhere else it is above
// kAmountMax and so `overflow`. An amount of 0 is never "all": it is `zero_amount`.
inline constexpr Amount kAmountAll = ~Amount{0};
static_assert(kAmountAll > kAmountMax);

// Largest goods total (kopecks) a hold or spend may carry: 10^12 roubles.
inline constexpr Kopecks kGoodsTotalMax = 100'000'000'000'000ull;
// At least this much of every order is paid in money (1 rouble).
inline constexpr Kopecks kPaidMinKopecks = 100;

// Spend share is given in basis points of the goods total: 9900 = 99 %.
inline constexpr std::uint32_t kSpendShareBpMax = 10'000;

// Accounts one ledger may hold, whatever EngineConfig::accounts_max says: an account index
// has 31 bits (a campaign's recipient entry keeps a flag in bit 31, recipient_set.h).
inline constexpr std::uint64_t kAccountCountMax = std::uint64_t{1} << 31;

// Lots one account may hold at once (mailings, cashback); past it `account_lots_full`.
inline constexpr std::uint32_t kAccountLotsMax = 4096;
// A lot's per-account sequence number has 22 bits (two flags and the 8-bit reason share
// its word, lot.h); an account that reached it takes no new lot (`account_lots_full`).
inline constexpr std::uint32_t kLotSeqMax = (1u << 22) - 1;

// Hold timeouts: default and range.
inline constexpr TimeUs kHoldTimeoutDefaultUs = 15 * kUsPerMinute;
inline constexpr TimeUs kHoldTimeoutMaxUs = 30 * kUsPerDay;

// Ledger time must stay below this (year ~2262 is kTimeNever's neighbourhood);
// an expiry computed past it is `overflow`. kTimeNever itself means "never".
inline constexpr TimeUs kTimeMaxUs = kTimeNever - 1;

// Expiry index granularity: lots are swept per minute bucket, once the bucket is over.
inline constexpr TimeUs kExpiryBucketUs = kUsPerMinute;

// Marketplace calendar for the monthly earn cap: Moscow time, UTC+3, no DST.
inline constexpr TimeUs kCalendarOffsetUs = 3 * kUsPerHour;

// Default seller policy (DESIGN.md §1).
inline constexpr std::uint32_t kPolicySpendShareBpDefault = 9'900;
inline constexpr Amount kPolicyBalanceMaxDefault = 30'000;
inline constexpr Amount kPolicyEarnMonthMaxDefault = 30'000;
inline constexpr TimeUs kPolicyLotLifeDefaultUs = 365 * kUsPerDay;

// Accounts (or campaign recipients) one page of `expiring` or `segment` looks at, at most:
// a page for a seller with few matches returns early, not done, with a cursor, so no one
// read holds its shard for long (docs/engine.md, Reads).
inline constexpr std::uint32_t kReadScanMax = 16'384;

// Cashback by rate (docs/engine.md, "Rates and tiers"). A rate is in basis points of
// the price: 500 = 5 %. No rate by default: an accrual by price needs the seller to set one.
inline constexpr std::uint32_t kRateBpMax = 10'000;
// Tiers a policy may have, beside its base rate.
inline constexpr std::uint32_t kPolicyTiersMax = 8;
// The purchase window of tiers, in calendar days (today included): default and range.
inline constexpr std::uint32_t kTierWindowDaysDefault = 365;
inline constexpr std::uint32_t kTierWindowDaysMax = 730;

}  // namespace bonus
