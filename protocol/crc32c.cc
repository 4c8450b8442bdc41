#include "protocol/crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>

namespace bonus {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78;  // reflected Castagnoli

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kTable = make_table();

std::uint32_t software(const unsigned char* p, std::size_t n, std::uint32_t crc) {
  crc = ~crc;
  while (n-- > 0) crc = kTable[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

__attribute__((target("sse4.2"))) std::uint32_t hardware(const unsigned char* p, std::size_t n,
                                                          std::uint32_t crc) {
  std::uint64_t c = ~crc & 0xFFFFFFFFu;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  std::uint32_t c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

const bool kHardware = __builtin_cpu_supports("sse4.2");

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  return kHardware ? hardware(p, size, crc) : software(p, size, crc);
}

std::uint32_t crc32c_software(const void* data, std::size_t size, std::uint32_t crc) {
  return software(static_cast<const unsigned char*>(data), size, crc);
}

std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc) {
  return hardware(static_cast<const unsigned char*>(data), size, crc);
}

bool crc32c_has_sse42() { return kHardware; }

}  // namespace bonus
