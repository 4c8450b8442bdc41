#include "server/read_timer.h"

namespace bonus::server {

void ReadTimer::arrived(const protocol::FrameHeader& header) {
  Histogram histogram;
  if (!read_histogram(header.opcode, histogram)) return;
  reads_[header.request_id] = Read{histogram, std::chrono::steady_clock::now()};
}

void ReadTimer::replied(std::string_view frame) {
  if (reads_.empty() || frame.size() < protocol::kHeaderBytes) return;
  protocol::FrameHeader header;
  if (protocol::decode_header(reinterpret_cast<const std::uint8_t*>(frame.data()),
                              protocol::kBodySizeMax, header) != protocol::FrameError::none) {
    return;
  }
  const auto read = reads_.find(header.request_id);
  if (read == reads_.end()) return;
  metrics().observe_since(read->second.histogram, read->second.arrived);
  reads_.erase(read);
}

}  // namespace bonus::server
