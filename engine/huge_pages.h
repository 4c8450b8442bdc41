// Large arrays that ask the kernel for transparent huge pages (2 MiB). Random access
// over gigabytes of accounts costs a TLB walk per miss with 4 KiB pages; measured here
// a dependent miss over 1 GiB takes ~340 ns with 4 KiB pages and ~250 ns with huge ones
// (bench/memory_latency.cc). Memory hints only: no I/O, no clock.
#pragma once

#include <cstddef>

namespace bonus {

// Zero-filled, 2 MiB-aligned, `bytes` long; aborts when memory is exhausted.
void* huge_allocate(std::size_t bytes);
void huge_free(void* p);

}  // namespace bonus
