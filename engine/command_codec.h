// Commands as bytes, for the journal: one byte of kind (the Command alternative's index,
// append-only like the variant) and then the command struct's bytes (fixed size per kind,
// no padding, little-endian). Stateless; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "engine/command.h"

namespace bonus {

// Appends the encoding of `command` to `out`.
void encode_command(const Command& command, std::string& out);

// Decodes one command from the front of `in`. Returns the bytes it took, or 0 when `in`
// does not start with a whole command of a known kind. A body of the size a kind had
// before it grew (Accrue before `price`, SetPolicy before rates and tiers) decodes when it
// is all of `in`, with the new fields zero: journals written before still replay.
std::size_t decode_command(std::string_view in, Command& out);

}  // namespace bonus
