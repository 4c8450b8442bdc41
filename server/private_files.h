// Private files: everything bonusd (and its offline tools) create in a data directory is
// readable and writable by its owner only: files 0600, directories 0700 (server/README.md,
// "The data directory"). The modes are given explicitly, so they hold whatever the umask.
// Stateless; any thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace bonus::server {

inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kPrivateDirectoryMode = 0700;

// Creates `path` and its missing parents with kPrivateDirectoryMode; directories that
// exist are left as they are. An error text if one cannot be made or `path` is not a
// directory.
[[nodiscard]] std::optional<std::string> create_private_directories(const std::string& path);

// A warning text if the directory at `path` can be read, written or entered by group or
// others (an existing directory bonusd did not create, e.g. by `mkdir data`): its file
// names are then visible to them, though not its files' contents. nullopt if private or
// if it cannot be inspected.
std::optional<std::string> wide_directory_warning(const std::string& path);

}  // namespace bonus::server
