// Built when the redis client library is not installed: the system is reported missing.
#include "bench/peers/backend.h"

namespace bonus::peers {

bool setup_redis(const std::string&, std::string& error) {
  error = "peer-bench was built without redis support (bench/peers/run installs the library)";
  return false;
}
std::unique_ptr<Backend> connect_redis(const std::string&, std::string& error) {
  error = "not built with redis support";
  return nullptr;
}

}  // namespace bonus::peers
