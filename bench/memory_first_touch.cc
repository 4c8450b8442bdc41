// memory-first-touch: what memory costs the first time a process writes it, with 4 KiB
// pages and with transparent huge pages (madvise, as engine/huge_pages.cc asks), against
// a second pass over the same memory. Every table that grows (a fresh server taking a
// mailing, the checkpointer's replicas) pays it once per page.
//
// On a virtual machine with free page reporting (Firecracker here: the kernel's
// page_reporting.page_reporting_order=11) memory the guest freed a few seconds ago has
// been handed back to the host, and the host backs it again on the next first touch; a
// page freed just before is still backed. So the figures depend on what ran before:
// `measure` runs each kind of page after a sleep (cold: handed back) and right after a
// warm-up of the same size (warm: still backed).
//   build/bin/memory-first-touch                 measure, 512 MiB, sleep 8 s
//   build/bin/memory-first-touch measure 256 5   256 MiB, sleep 5 s
//   build/bin/memory-first-touch warm 1500       touch 1500 MiB of huge pages and free them:
//                                                the next process finds them backed
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

char* map(std::size_t bytes, bool huge) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  if (huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
  return static_cast<char*>(p);
}

// Touches `bytes` once (first touch) and again (second pass); prints both.
void touch(const char* label, std::size_t bytes, bool huge) {
  char* p = map(bytes, huge);
  const auto t0 = Clock::now();
  std::memset(p, 1, bytes);
  const double first = seconds_since(t0);
  const auto t1 = Clock::now();
  std::memset(p, 2, bytes);
  const double second = seconds_since(t1);
  munmap(p, bytes);
  const double pages = static_cast<double>(bytes) / (huge ? (2 << 20) : 4096);
  std::printf(
      "%-22s %5zu MiB  first touch %8.1f ms (%6.2f GB/s, %8.2f us a page)  "
      "second pass %6.1f ms (%6.2f GB/s)\n",
      label, bytes >> 20, first * 1e3, static_cast<double>(bytes) / first / 1e9,
      first * 1e6 / pages, second * 1e3, static_cast<double>(bytes) / second / 1e9);
}

void warm(std::size_t bytes) {
  char* p = map(bytes, true);
  std::memset(p, 1, bytes);
  munmap(p, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "measure";
  const long mib = argc > 2 ? std::atol(argv[2]) : (mode == "warm" ? 1500 : 512);
  const long sleep_s = argc > 3 ? std::atol(argv[3]) : 8;
  if ((mode != "measure" && mode != "warm") || mib <= 0 || mib > 65536 || sleep_s < 0) {
    std::fprintf(stderr, "usage: memory-first-touch [measure [MiB [sleep_s]] | warm [MiB]]\n");
    return 2;
  }
  const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
  if (mode == "warm") {
    warm(bytes);
    return 0;
  }
  for (const bool huge : {false, true}) {
    sleep(static_cast<unsigned>(sleep_s));
    touch(huge ? "huge pages, cold" : "4 KiB pages, cold", bytes, huge);
    warm(bytes);
    touch(huge ? "huge pages, warm" : "4 KiB pages, warm", bytes, huge);
  }
  return 0;
}
