#include "server/manifest.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "server/private_files.h"

namespace bonus::server {
namespace {

constexpr SetLimits::Field kFields[] = {
    SetLimits::kAccountsMax,    SetLimits::kOrdersMax,       SetLimits::kIdsMax,
    SetLimits::kIdWindow,       SetLimits::kOrderRetention,  SetLimits::kRejectedIdsMax,
    SetLimits::kRejectedIdWindow,
};

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
T get(std::string_view bytes, std::size_t& at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  at += sizeof(v);
  return v;
}

void put_config(std::string& out, const EngineConfig& c) {
  put(out, c.accounts_max);
  put(out, c.orders_max);
  put(out, c.ids_max);
  put(out, c.id_window_us);
  put(out, c.order_retention_us);
  put(out, c.rejected_ids_max);
  put(out, c.rejected_id_window_us);
}

EngineConfig get_config(std::string_view bytes, std::size_t& at) {
  EngineConfig c;
  c.accounts_max = get<std::uint64_t>(bytes, at);
  c.orders_max = get<std::uint64_t>(bytes, at);
  c.ids_max = get<std::uint64_t>(bytes, at);
  c.id_window_us = get<TimeUs>(bytes, at);
  c.order_retention_us = get<TimeUs>(bytes, at);
  c.rejected_ids_max = get<std::uint64_t>(bytes, at);
  c.rejected_id_window_us = get<TimeUs>(bytes, at);
  return c;
}

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return "manifest: " + what + " " + path + ": " + std::strerror(err);
}

bool is_window(SetLimits::Field field) {
  return field == SetLimits::kIdWindow || field == SetLimits::kOrderRetention ||
         field == SetLimits::kRejectedIdWindow;
}

std::uint64_t value_of(const EngineConfig& c, SetLimits::Field field) {
  switch (field) {
    case SetLimits::kAccountsMax: return c.accounts_max;
    case SetLimits::kOrdersMax: return c.orders_max;
    case SetLimits::kIdsMax: return c.ids_max;
    case SetLimits::kIdWindow: return static_cast<std::uint64_t>(c.id_window_us);
    case SetLimits::kOrderRetention: return static_cast<std::uint64_t>(c.order_retention_us);
    case SetLimits::kRejectedIdsMax: return c.rejected_ids_max;
    case SetLimits::kRejectedIdWindow: return static_cast<std::uint64_t>(c.rejected_id_window_us);
  }
  return 0;
}

}  // namespace

std::string encode_manifest(const Manifest& m) {
  std::string out;
  out.append(Manifest::kMagic, sizeof(Manifest::kMagic));
  put(out, Manifest::kVersion);
  put(out, m.shards);
  put(out, m.limits_changes);
  put_config(out, m.initial);
  put_config(out, m.current);
  put(out, std::uint64_t{0});  // reserved
  put(out, XXH3_64bits(out.data(), out.size()));
  return out;
}

std::variant<Manifest, std::string> decode_manifest(std::string_view bytes, const std::string& path) {
  const std::string where = "manifest " + path + ": ";
  if (bytes.size() < sizeof(Manifest::kMagic) + 4 ||
      std::memcmp(bytes.data(), Manifest::kMagic, sizeof(Manifest::kMagic)) != 0) {
    return where + "not a bonusd manifest (bad magic or too short; damaged)";
  }
  std::size_t at = sizeof(Manifest::kMagic);
  const auto version = get<std::uint32_t>(bytes, at);
  if (version != Manifest::kVersion) {
    return where + "format version " + std::to_string(version) + "; this build reads version " +
           std::to_string(Manifest::kVersion) + " (start the build that wrote it)";
  }
  if (bytes.size() != Manifest::kBytes) {
    return where + std::to_string(bytes.size()) + " bytes, expected " +
           std::to_string(Manifest::kBytes) + " (damaged)";
  }
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + bytes.size() - 8, 8);
  if (checksum != XXH3_64bits(bytes.data(), bytes.size() - 8)) {
    return where + "checksum mismatch (damaged)";
  }
  Manifest m;
  m.shards = get<std::uint32_t>(bytes, at);
  m.limits_changes = get<std::uint64_t>(bytes, at);
  m.initial = get_config(bytes, at);
  m.current = get_config(bytes, at);
  if (m.shards == 0 || !config_valid(m.initial) || !config_valid(m.current)) {
    return where + "a value is out of range (damaged)";
  }
  return m;
}

std::optional<std::string> read_manifest(const std::string& dir, std::optional<Manifest>& out) {
  out.reset();
  const std::string path = dir + "/" + Manifest::kFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return errno_text("cannot open", path, errno);
  }
  std::string bytes(Manifest::kBytes + 1, '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return errno_text("cannot read", path, err);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  auto decoded = decode_manifest(bytes, path);
  if (auto* error = std::get_if<std::string>(&decoded)) return *error;
  out = std::get<Manifest>(decoded);
  return std::nullopt;
}

std::optional<std::string> write_manifest(const std::string& dir, const Manifest& manifest) {
  const std::string path = dir + "/" + Manifest::kFileName;
  const std::string temp = path + ".tmp";
  const std::string bytes = encode_manifest(manifest);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno_text("cannot create", temp, errno);
  std::optional<std::string> error;
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    error = errno_text("cannot write", temp, errno);
  } else if (::fdatasync(fd) != 0) {
    error = errno_text("cannot fdatasync", temp, errno);
  }
  ::close(fd);
  if (!error && ::rename(temp.c_str(), path.c_str()) != 0) {
    error = errno_text("cannot rename to", path, errno);
  }
  if (error) return error;
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errno_text("cannot open", dir, errno);
  if (::fsync(dir_fd) != 0) error = errno_text("cannot fsync", dir, errno);
  ::close(dir_fd);
  return error;
}

const char* limit_flag(SetLimits::Field field) {
  switch (field) {
    case SetLimits::kAccountsMax: return "--accounts-max";
    case SetLimits::kOrdersMax: return "--orders-max";
    case SetLimits::kIdsMax: return "--ids-max";
    case SetLimits::kIdWindow: return "--id-window-s";
    case SetLimits::kOrderRetention: return "--order-retention-s";
    case SetLimits::kRejectedIdsMax: return "--rejected-ids-max";
    case SetLimits::kRejectedIdWindow: return "--rejected-id-window-s";
  }
  return "?";
}

std::string limit_value_text(const EngineConfig& config, SetLimits::Field field) {
  const std::uint64_t v = value_of(config, field);
  if (!is_window(field)) return std::to_string(v);
  const auto us = static_cast<TimeUs>(v);
  if (us % kUsPerSecond == 0) return std::to_string(us / kUsPerSecond);
  std::ostringstream s;
  s << static_cast<double>(us) / static_cast<double>(kUsPerSecond);
  return s.str();
}

const char* invalid_limit_flag(const EngineConfig& config) {
  for (const SetLimits::Field f : kFields) {
    SetLimits probe;
    probe.fields = f;
    probe.accounts_max = probe.orders_max = probe.ids_max = probe.rejected_ids_max = value_of(config, f);
    probe.id_window_us = probe.order_retention_us = probe.rejected_id_window_us =
        static_cast<TimeUs>(value_of(config, f));
    if (!set_limits_valid(probe)) return limit_flag(f);
  }
  return nullptr;
}

std::string limits_text(const EngineConfig& config) {
  std::string out;
  for (const SetLimits::Field f : kFields) {
    if (!out.empty()) out += ' ';
    out += std::string(limit_flag(f)).substr(2) + '=' + limit_value_text(config, f);
  }
  return out;
}

std::optional<std::string> check_flags(const EngineConfig& flags, std::uint32_t given,
                                       std::uint32_t shards, bool shards_given,
                                       const Manifest& stored, const EngineConfig& stored_limits) {
  if (shards_given && shards != stored.shards) {
    return "--shards " + std::to_string(shards) + " differs from the data directory's " +
           std::to_string(stored.shards) +
           " shards (manifest): the buyers are spread over that many; start without --shards "
           "(or with --shards " +
           std::to_string(stored.shards) + ") to use it";
  }
  for (const SetLimits::Field f : kFields) {
    if ((given & f) == 0 || value_of(flags, f) == value_of(stored_limits, f)) continue;
    const std::string flag = limit_flag(f);
    return flag + " " + limit_value_text(flags, f) + " differs from the data directory's " +
           limit_value_text(stored_limits, f) +
           " (manifest): the limits are part of the ledger's state, and a replay under "
           "another value would give another state. Start without " +
           flag + " to use the stored value, or change it on purpose on the running server: "
           "bonusctl admin limits set " +
           flag + " " + limit_value_text(flags, f);
  }
  return std::nullopt;
}

}  // namespace bonus::server
