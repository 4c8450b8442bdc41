// CRC32C (Castagnoli): hardware (SSE4.2) when the CPU has it, a table otherwise.
// crc32c("123456789") == 0xE3069283. Stateless; any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bonus {

// CRC32C of `size` bytes at `data`, continuing from `crc` (0 to start).
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

// The two paths crc32c chooses between, for tests and benchmarks.
std::uint32_t crc32c_software(const void* data, std::size_t size, std::uint32_t crc = 0);
// REQUIRES: crc32c_has_sse42().
std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc = 0);
bool crc32c_has_sse42();

}  // namespace bonus
