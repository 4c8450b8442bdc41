// rss_bytes: this process's resident set, from /proc/self/statm, for the benchmarks'
// memory counters. Any thread.
#pragma once

#include <cstdio>

namespace bonus {

inline long rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4096;
}

}  // namespace bonus
