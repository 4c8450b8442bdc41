// Built when the postgres client library is not installed: the system is reported missing.
#include "bench/peers/backend.h"

namespace bonus::peers {

bool setup_postgres(const std::string&, std::string& error) {
  error = "peer-bench was built without postgres support (bench/peers/run installs the library)";
  return false;
}
std::unique_ptr<Backend> connect_postgres(const std::string&, std::string& error) {
  error = "not built with postgres support";
  return nullptr;
}

}  // namespace bonus::peers
