#include "server/reply_batch.h"

#include <asio/post.hpp>

#include "server/connection.h"

namespace bonus::server {

thread_local ReplyBatch* ReplyBatch::current_ = nullptr;

void ReplyBatch::flush() {
  if (replies_.empty()) return;
  asio::post(io_, [replies = std::move(replies_)]() mutable {
    for (auto& [connection, frame] : replies) connection->send(std::move(frame), true);
  });
  replies_ = {};
}

}  // namespace bonus::server
