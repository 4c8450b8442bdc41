#include "engine/command_codec.h"

#include <bit>
#include <cstring>
#include <utility>

namespace bonus {

static_assert(std::endian::native == std::endian::little);
static_assert(std::variant_size_v<Command> < 256);

void encode_command(const Command& command, std::string& out) {
  out.push_back(static_cast<char>(command.index()));
  std::visit(
      [&](const auto& c) { out.append(reinterpret_cast<const char*>(&c), sizeof(c)); },
      command);
}

namespace {

// Commands that grew (new fields at the end): the size of their body in journals
// written before, read with the new fields zero. 0: the kind never grew.
template <typename T>
inline constexpr std::size_t kEarlierBytes = 0;
template <> inline constexpr std::size_t kEarlierBytes<Accrue> = 64;     // before `price`
template <> inline constexpr std::size_t kEarlierBytes<SetPolicy> = 56;  // before rates, tiers

template <std::size_t I>
std::size_t decode_as(std::size_t kind, std::string_view body, Command& out) {
  if constexpr (I == std::variant_size_v<Command>) {
    return 0;
  } else {
    if (kind != I) return decode_as<I + 1>(kind, body, out);
    using T = std::variant_alternative_t<I, Command>;
    T c;
    if (kEarlierBytes<T> != 0 && body.size() == kEarlierBytes<T>) {
      std::memcpy(static_cast<void*>(&c), body.data(), kEarlierBytes<T>);
      out = c;
      return 1 + kEarlierBytes<T>;
    }
    if (body.size() < sizeof(T)) return 0;
    std::memcpy(&c, body.data(), sizeof(T));
    out = c;
    return 1 + sizeof(T);
  }
}

}  // namespace

std::size_t decode_command(std::string_view in, Command& out) {
  if (in.empty()) return 0;
  return decode_as<0>(static_cast<unsigned char>(in[0]), in.substr(1), out);
}

}  // namespace bonus
