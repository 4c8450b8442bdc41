// Writes the fuzzer's seed corpus: one valid frame of every message (and a ping) into
// the directory given, one file each, named after the root table.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "tests/protocol/message_samples.h"

int main(int argc, char** argv) {
  using namespace bonus::protocol;
  if (argc != 2) {
    std::fprintf(stderr, "usage: frame_fuzz_seeds <dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  testing::Rng rng(1);
  std::vector<testing::Sample> samples = testing::samples(rng);
  samples.push_back(testing::Sample{"Ping", Opcode::ping, 0, {}});
  std::uint64_t request_id = 1;
  for (const testing::Sample& s : samples) {
    const std::string frame = make_frame(s.opcode, s.flags, request_id++, s.body);
    std::ofstream out(dir + "/seed-" + s.root, std::ios::binary | std::ios::trunc);
    out.write(frame.data(), static_cast<std::streamsize>(frame.size()));
    if (!out) {
      std::fprintf(stderr, "frame_fuzz_seeds: cannot write %s/seed-%s\n", dir.c_str(),
                   s.root.c_str());
      return 1;
    }
  }
  return 0;
}
