#include "engine/command_id.h"

// Inlined (the same XXH3 as the shared library's, so the same hashes): a write's body is
// hashed on every apply, and a call into the library costs it more than the hash does.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace bonus {

Id128 command_id(const Command& command) {
  return std::visit(
      [](const auto& c) {
        if constexpr (requires { c.id; }) {
          return c.id;
        } else {
          return Id128{};
        }
      },
      command);
}

std::uint64_t command_body_hash(const Command& command) {
  return std::visit(
      [&](const auto& c) { return XXH3_64bits_withSeed(&c, sizeof(c), command.index() + 1); },
      command);
}

}  // namespace bonus
