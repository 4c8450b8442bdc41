#include "engine/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace bonus {

namespace {
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
}

void* huge_allocate(std::size_t bytes) {
  if (bytes < kHugePageBytes) {
    void* p = std::calloc(1, bytes);
    if (p == nullptr) std::abort();
    return p;
  }
  const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* p = std::aligned_alloc(kHugePageBytes, rounded);
  if (p == nullptr) std::abort();
  // A hint: where transparent huge pages are off it does nothing, which is fine.
  (void)madvise(p, rounded, MADV_HUGEPAGE);
  std::memset(p, 0, bytes);
  return p;
}

void huge_free(void* p) { std::free(p); }

}  // namespace bonus
