#include "server/reply_batch.h"

#include <asio/post.hpp>

#include "server/connection.h"

namespace bonus::server {

thread_local ReplyBatch* ReplyBatch::current_ = nullptr;

void ReplyBatch::add(std::shared_ptr<Connection> connection, std::string frame) {
  asio::io_context* io = &connection->io();
  // As many loops as partitions: a few, so a scan.
  for (ForLoop& loop : loops_) {
    if (loop.io == io) {
      loop.replies.emplace_back(std::move(connection), std::move(frame));
      return;
    }
  }
  loops_.push_back(ForLoop{io, {}});
  loops_.back().replies.emplace_back(std::move(connection), std::move(frame));
}

void ReplyBatch::flush() {
  for (ForLoop& loop : loops_) {
    asio::post(*loop.io, [replies = std::move(loop.replies)]() mutable {
      for (auto& [connection, frame] : replies) connection->send(std::move(frame), true);
    });
  }
  loops_.clear();
}

}  // namespace bonus::server
