// Calendar arithmetic on ledger time, for the monthly earn cap. Pure functions.
#pragma once

#include <cstdint>

#include "engine/limits.h"
#include "engine/types.h"

namespace bonus {

// Days since 1 January 1970 of the marketplace calendar (UTC+3) date of `t`: the
// purchase window of tiers counts whole days of this calendar.
inline std::int64_t calendar_day(TimeUs t) {
  const TimeUs local = t + kCalendarOffsetUs;
  std::int64_t days = local / kUsPerDay;
  if (local % kUsPerDay < 0) --days;
  return days;
}

// Months since January 1970 of the marketplace calendar (UTC+3) date of `t`.
inline std::uint16_t calendar_month(TimeUs t) {
  std::int64_t days = calendar_day(t);
  // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian.
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;  // 1..12
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const std::int64_t index = (year - 1970) * 12 + (month - 1);
  return static_cast<std::uint16_t>(index < 0 ? 0 : index);
}

}  // namespace bonus
