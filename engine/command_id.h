// What makes two writes "the same": a command's write id and the hash of its body (its
// type and its bytes; commands have no padding). The Ledger's idempotency check and the
// server's ledger-wide id directory both use exactly these, so they agree on what a
// repeat is.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>

#include "engine/command.h"

namespace bonus {

// The command's id; zero for the sweep, which has none.
Id128 command_id(const Command& command);

// 64-bit hash of the command's type and bytes.
std::uint64_t command_body_hash(const Command& command);

}  // namespace bonus
