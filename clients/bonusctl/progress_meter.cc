#include "clients/bonusctl/progress_meter.h"

#include <algorithm>

namespace bonus::ctl {
namespace {

using Clock = std::chrono::steady_clock;

std::string format_seconds(double s) {
  char text[32];
  if (s < 10) {
    std::snprintf(text, sizeof(text), "%.1fs", s);
  } else if (s < 3600) {
    const auto whole = static_cast<long>(s);
    std::snprintf(text, sizeof(text), "%ldm%02lds", whole / 60, whole % 60);
  } else {
    const auto whole = static_cast<long>(s);
    std::snprintf(text, sizeof(text), "%ldh%02ldm", whole / 3600, whole / 60 % 60);
  }
  return text;
}

}  // namespace

std::string group_digits(std::uint64_t n) {
  char text[32];
  std::size_t at = sizeof(text);
  int digits = 0;
  do {
    if (digits > 0 && digits % 3 == 0) text[--at] = ',';
    text[--at] = static_cast<char>('0' + n % 10);
    n /= 10;
    ++digits;
  } while (n != 0);
  return std::string(text + at, sizeof(text) - at);
}

ProgressMeter::ProgressMeter(std::FILE* out, bool terminal, std::string label, std::string unit)
    : out_(out),
      terminal_(terminal),
      label_(std::move(label)),
      unit_(std::move(unit)),
      started_(Clock::now()),
      last_drawn_(started_) {}

double ProgressMeter::seconds() const {
  return std::chrono::duration<double>(Clock::now() - started_).count();
}

void ProgressMeter::update(std::uint64_t done, std::optional<std::uint64_t> total) {
  const auto every = terminal_ ? std::chrono::milliseconds(100) : std::chrono::seconds(2);
  if (Clock::now() - last_drawn_ < every) return;
  draw(done, total, false);
}

void ProgressMeter::finish(std::uint64_t done) {
  if (!drawn_ && !terminal_) return;  // short jobs leave no plain progress lines
  draw(done, done, true);
}

void ProgressMeter::draw(std::uint64_t done, std::optional<std::uint64_t> total, bool last) {
  last_drawn_ = Clock::now();
  drawn_ = true;
  const double elapsed = seconds();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  if (total) total = std::max(*total, done);
  std::string line;
  char text[160];
  if (total && *total > 0) {
    const double share = static_cast<double>(done) / static_cast<double>(*total);
    if (terminal_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(share * kWidth);
      line.push_back('[');
      line.append(static_cast<std::size_t>(filled), '#');
      line.append(static_cast<std::size_t>(kWidth - filled), '.');
      line.append("] ");
    }
    std::snprintf(text, sizeof(text), "%3d%%  %s of %s%s %s", static_cast<int>(share * 100),
                  group_digits(done).c_str(), last ? "" : "~", group_digits(*total).c_str(),
                  unit_.c_str());
  } else {
    std::snprintf(text, sizeof(text), "%s %s", group_digits(done).c_str(), unit_.c_str());
  }
  line += text;
  std::snprintf(text, sizeof(text), "  %s/s",
                group_digits(static_cast<std::uint64_t>(rate)).c_str());
  line += text;
  if (last) {
    line.append("  in ").append(format_seconds(elapsed));
  } else if (total && rate > 0) {
    line.append("  ETA ").append(format_seconds(static_cast<double>(*total - done) / rate));
  }
  if (terminal_) {
    std::fprintf(out_, "\r\x1b[K%s%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(out_, "%s: %s\n", label_.c_str(), line.c_str());
  }
  std::fflush(out_);
}

}  // namespace bonus::ctl
