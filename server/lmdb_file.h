// Opening an LMDB environment the way both of bonusd's stores do (the checkpoint's and
// history's): the map set first, the directory's files private, and a truncated file
// refused with a message (LMDB maps the file: a page past a truncated end would be
// SIGBUS, not an error). Any thread, before the environment is shared.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bonus::server {

// The size of <dir>/data.mdb; 0 when it does not exist.
std::uint64_t lmdb_file_bytes(const std::string& dir);

// Sets `env`'s map to `map_bytes`, opens it on `dir` (MDB_NOTLS, mode 0600) and checks
// that the file holds every page LMDB's meta names. Errors start with `what` ("checkpoint").
// REQUIRES: env created, its maxdbs set, not opened yet.
[[nodiscard]] std::optional<std::string> open_lmdb_env(MDB_env* env, const std::string& dir,
                                                       std::uint64_t map_bytes,
                                                       const std::string& what);

}  // namespace bonus::server
