#include "server/descriptor_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bonus::server {

DescriptorLimit raise_descriptor_limit(std::uint32_t connections_max) {
  DescriptorLimit result;
  result.wanted = std::uint64_t{connections_max} + kOwnDescriptorsMax;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    result.note = std::string("descriptor limit unknown: getrlimit: ") + std::strerror(errno);
    return result;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < result.wanted) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY
                          ? result.wanted
                          : std::min<rlim_t>(limit.rlim_max, result.wanted);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  result.soft = limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : limit.rlim_cur;
  result.enough = result.soft >= result.wanted;
  result.note =
      result.enough
          ? "descriptors: limit " + std::to_string(result.soft)
          : "descriptors: limit " + std::to_string(result.soft) + " (hard limit " +
                std::to_string(limit.rlim_max) + ") is below --connections-max " +
                std::to_string(connections_max) + " + " + std::to_string(kOwnDescriptorsMax) +
                " for the server's own files: past about " +
                std::to_string(result.soft > kOwnDescriptorsMax ? result.soft - kOwnDescriptorsMax
                                                                : 0) +
                " connections accept fails and backs off (raise `ulimit -Hn` or "
                "lower --connections-max)";
  return result;
}

}  // namespace bonus::server
