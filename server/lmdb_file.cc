#include "server/lmdb_file.h"

#include <sys/stat.h>

#include "server/private_files.h"

namespace bonus::server {

std::uint64_t lmdb_file_bytes(const std::string& dir) {
  struct stat st{};
  if (::stat((dir + "/data.mdb").c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

std::optional<std::string> open_lmdb_env(MDB_env* env, const std::string& dir,
                                         std::uint64_t map_bytes, const std::string& what) {
  if (int rc = mdb_env_set_mapsize(env, map_bytes); rc != 0) {
    return what + ": map size: " + mdb_strerror(rc);
  }
  if (int rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS, kPrivateFileMode); rc != 0) {
    return what + ": open " + dir + ": " + mdb_strerror(rc);
  }
  MDB_envinfo env_info;
  MDB_stat env_stat;
  mdb_env_info(env, &env_info);
  mdb_env_stat(env, &env_stat);
  const std::uint64_t needed = (std::uint64_t{env_info.me_last_pgno} + 1) * env_stat.ms_psize;
  const std::uint64_t bytes = lmdb_file_bytes(dir);
  if (bytes < needed) {
    return what + ": " + dir + "/data.mdb is " + std::to_string(bytes) +
           " bytes but its pages need " + std::to_string(needed) + ": the file was truncated";
  }
  return std::nullopt;
}

}  // namespace bonus::server
