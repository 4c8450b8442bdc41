#include "clients/bonusctl/units.h"

#include <chrono>
#include <cstdio>
#include <limits>

namespace bonus::ctl {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Appends decimal digits to `value`, refusing overflow; false on a non-digit.
bool accumulate(std::string_view digits, std::uint64_t& value) {
  for (const char c : digits) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
    value = value * 10 + d;
  }
  return true;
}

// "123" or "123.4" or "123.45" scaled by 100; nothing for more decimals or junk.
std::optional<std::uint64_t> parse_hundredths(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) return {};
  if (fraction.size() > 2) return {};
  std::uint64_t units = 0;
  std::uint64_t cents = 0;
  if (!accumulate(whole, units) || !accumulate(fraction, cents)) return {};
  if (fraction.size() == 1) cents *= 10;
  if (units > (std::numeric_limits<std::uint64_t>::max() - cents) / 100) return {};
  return units * 100 + cents;
}

// Exactly `n` digits at text[at..] as a number.
std::optional<int> fixed_digits(std::string_view text, std::size_t at, std::size_t n) {
  if (text.size() < at + n) return {};
  int value = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(text[i])) return {};
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view number_error_name(NumberError error) {
  switch (error) {
    case NumberError::none:
      return "ok";
    case NumberError::empty:
      return "empty";
    case NumberError::negative:
      return "negative";
    case NumberError::overflow:
      return "overflow (above 18446744073709551615)";
    case NumberError::not_a_number:
      return "not a number";
  }
  return "not a number";
}

std::optional<std::uint64_t> parse_u64(std::string_view text, NumberError* error) {
  NumberError why = NumberError::none;
  std::uint64_t value = 0;
  bool all_digits = !text.empty();
  for (const char c : text) all_digits = all_digits && is_digit(c);
  if (text.empty()) {
    why = NumberError::empty;
  } else if (text[0] == '-' && text.size() > 1) {
    why = NumberError::negative;
  } else if (!all_digits) {
    why = NumberError::not_a_number;
  } else if (!accumulate(text, value)) {
    why = NumberError::overflow;
  }
  if (error != nullptr) *error = why;
  if (why != NumberError::none) return {};
  return value;
}

std::optional<TimeUs> parse_duration(std::string_view text) {
  if (text.size() < 2) return {};
  TimeUs unit = 0;
  switch (text.back()) {
    case 's':
      unit = kUsPerSecond;
      break;
    case 'm':
      unit = kUsPerMinute;
      break;
    case 'h':
      unit = kUsPerHour;
      break;
    case 'd':
      unit = kUsPerDay;
      break;
    default:
      return {};
  }
  const auto count = parse_u64(text.substr(0, text.size() - 1));
  if (!count || *count == 0) return {};
  if (*count > static_cast<std::uint64_t>(std::numeric_limits<TimeUs>::max() / unit)) return {};
  return static_cast<TimeUs>(*count) * unit;
}

std::optional<Kopecks> parse_money(std::string_view text) {
  return parse_hundredths(text);
}

std::optional<std::uint32_t> parse_share_bp(std::string_view text) {
  if (!text.empty() && text.back() == '%') text.remove_suffix(1);
  const auto bp = parse_hundredths(text);
  if (!bp || *bp > 10'000) return {};
  return static_cast<std::uint32_t>(*bp);
}

std::optional<std::uint32_t> parse_rate_bp(std::string_view text) {
  std::optional<std::uint64_t> bp;
  if (text.size() > 2 && text.substr(text.size() - 2) == "bp") {
    bp = parse_u64(text.substr(0, text.size() - 2));
  } else if (const auto share = parse_share_bp(text)) {
    bp = *share;
  }
  if (!bp || *bp == 0 || *bp > 10'000) return {};
  return static_cast<std::uint32_t>(*bp);
}

std::string format_rate(std::uint32_t bp) {
  char text[32];
  if (bp % 100 == 0) {
    std::snprintf(text, sizeof(text), "%u%%", bp / 100);
  } else if (bp % 10 == 0) {
    std::snprintf(text, sizeof(text), "%u.%u%%", bp / 100, bp % 100 / 10);
  } else {
    std::snprintf(text, sizeof(text), "%u.%02u%%", bp / 100, bp % 100);
  }
  return text;
}

std::optional<TimeUs> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS, then [.f{1,6}], then Z or +00:00.
  const auto year = fixed_digits(text, 0, 4);
  const auto month = fixed_digits(text, 5, 2);
  const auto day = fixed_digits(text, 8, 2);
  const auto hour = fixed_digits(text, 11, 2);
  const auto minute = fixed_digits(text, 14, 2);
  const auto second = fixed_digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return {};
  if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return {};
  }
  std::string_view rest = text.substr(19);
  TimeUs micros = 0;
  if (!rest.empty() && rest[0] == '.') {
    std::size_t n = 1;
    while (n < rest.size() && is_digit(rest[n])) ++n;
    const std::size_t digits = n - 1;
    if (digits < 1 || digits > 6) return {};
    for (std::size_t i = 0; i < 6; ++i) {
      micros = micros * 10 + (i < digits ? rest[1 + i] - '0' : 0);
    }
    rest = rest.substr(n);
  }
  if (rest != "Z" && rest != "+00:00") return {};
  const std::chrono::year_month_day date{std::chrono::year{*year},
                                         std::chrono::month{static_cast<unsigned>(*month)},
                                         std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok() || *year < 1970 || *year > 2261) return {};
  if (*hour > 23 || *minute > 59 || *second > 59) return {};
  const TimeUs days = std::chrono::sys_days{date}.time_since_epoch().count();
  return days * kUsPerDay + *hour * kUsPerHour + *minute * kUsPerMinute + *second * kUsPerSecond +
         micros;
}

std::optional<Id128> parse_id(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 32) return {};
  Id128 id;
  for (const char c : text) {
    const int v = hex_value(c);
    if (v < 0) return {};
    id.hi = id.hi << 4 | id.lo >> 60;
    id.lo = id.lo << 4 | static_cast<std::uint64_t>(v);
  }
  if (id.zero()) return {};
  return id;
}

std::string format_time(TimeUs t) {
  const TimeUs day_number = t >= 0 ? t / kUsPerDay : (t - kUsPerDay + 1) / kUsPerDay;
  const TimeUs in_day = t - day_number * kUsPerDay;
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day_number}}};
  char out[40];
  const int n =
      std::snprintf(out, sizeof(out), "%04d-%02u-%02uT%02lld:%02lld:%02lld",
                    static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                    static_cast<unsigned>(date.day()), static_cast<long long>(in_day / kUsPerHour),
                    static_cast<long long>(in_day / kUsPerMinute % 60),
                    static_cast<long long>(in_day / kUsPerSecond % 60));
  std::string text(out, static_cast<std::size_t>(n));
  if (const TimeUs micros = in_day % kUsPerSecond; micros != 0) {
    std::snprintf(out, sizeof(out), ".%06lld", static_cast<long long>(micros));
    text += out;
  }
  return text + "Z";
}

std::string format_id(const Id128& id) {
  char out[33];
  std::snprintf(out, sizeof(out), "%016llx%016llx", static_cast<unsigned long long>(id.hi),
                static_cast<unsigned long long>(id.lo));
  return out;
}

std::string format_money(Kopecks kopecks) {
  char out[32];
  std::snprintf(out, sizeof(out), "%llu.%02llu", static_cast<unsigned long long>(kopecks / 100),
                static_cast<unsigned long long>(kopecks % 100));
  return out;
}

std::string format_duration(TimeUs us) {
  struct Unit {
    TimeUs size;
    const char* name;
  };
  for (const Unit u : {Unit{kUsPerDay, "d"}, Unit{kUsPerHour, "h"}, Unit{kUsPerMinute, "m"},
                       Unit{kUsPerSecond, "s"}}) {
    if (us != 0 && us % u.size == 0) return std::to_string(us / u.size) + u.name;
  }
  return std::to_string(us) + "us";
}

std::optional<std::uint16_t> parse_month(std::string_view text) {
  if (text.size() != 7 || text[4] != '-') return std::nullopt;
  const auto year = parse_u64(text.substr(0, 4));
  const auto month = parse_u64(text.substr(5, 2));
  if (!year || !month || *year < 1970 || *month < 1 || *month > 12) return std::nullopt;
  const std::uint64_t index = (*year - 1970) * 12 + (*month - 1);
  if (index > UINT16_MAX) return std::nullopt;
  return static_cast<std::uint16_t>(index);
}

std::string format_month(std::uint16_t month) {
  char text[16];
  std::snprintf(text, sizeof(text), "%04u-%02u", 1970u + month / 12u, month % 12u + 1u);
  return text;
}

}  // namespace bonus::ctl
