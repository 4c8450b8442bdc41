// memory-latency: what one dependent cache miss costs on this machine, with 4 KiB and
// with transparent huge pages. The floor under every random account access: a balance
// read of a cold account is two dependent misses (index slot, then record).
//   build/bin/memory-latency            16 MiB, 64 MiB, 1 GiB; 4 KiB and huge pages
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

namespace {

double chase_ns(std::size_t bytes, bool huge) {
  constexpr std::size_t kLine = 64;
  const std::size_t lines = bytes / kLine;
  auto* memory = static_cast<std::uint64_t*>(std::aligned_alloc(std::size_t{2} << 20, bytes));
  if (memory == nullptr) std::abort();
  if (huge) madvise(memory, bytes, MADV_HUGEPAGE);
  // One random cycle through every line: each load depends on the one before.
  std::vector<std::uint32_t> order(lines);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  for (std::size_t i = 0; i < lines; ++i) memory[order[i] * 8] = order[(i + 1) % lines];
  constexpr int kSteps = 5'000'000;
  std::uint64_t at = order[0];
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSteps; ++i) at = memory[at * 8];
  const auto stop = std::chrono::steady_clock::now();
  std::free(memory);
  if (at == UINT64_MAX) std::puts("");  // Keeps the chain alive.
  return std::chrono::duration<double, std::nano>(stop - start).count() / kSteps;
}

}  // namespace

int main() {
  std::printf("%10s %14s %14s\n", "working set", "4 KiB pages", "huge pages");
  for (std::size_t mib : {16, 64, 1024}) {
    const std::size_t bytes = mib << 20;
    std::printf("%7zu MiB %11.1f ns %11.1f ns\n", mib, chase_ns(bytes, false), chase_ns(bytes, true));
  }
}
