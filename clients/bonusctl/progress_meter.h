// ProgressMeter: a long job's progress on stderr. On a terminal, one line redrawn about
// ten times a second: a bar, the count, the rate and the time left; otherwise (a pipe, a
// log file) a plain line every 2 s. One thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace bonus::ctl {

class ProgressMeter {
 public:
  // `label` starts plain lines ("mail"); `unit` names what is counted ("credits").
  ProgressMeter(std::FILE* out, bool terminal, std::string label, std::string unit);

  // Shows `done` of about `total` (nothing: not known yet) if a line is due.
  void update(std::uint64_t done, std::optional<std::uint64_t> total);
  // The last line (on a terminal it stays on screen).
  void finish(std::uint64_t done);

  double seconds() const;

 private:
  void draw(std::uint64_t done, std::optional<std::uint64_t> total, bool last);

  std::FILE* out_;
  bool terminal_;
  std::string label_;
  std::string unit_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_drawn_;
  bool drawn_ = false;
};

// 1234567 as "1,234,567".
std::string group_digits(std::uint64_t n);

}  // namespace bonus::ctl
