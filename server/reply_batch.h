// ReplyBatch: the replies a shard's thread makes for connections that live on other
// loops (a read queued here by another partition's connection, a write from a
// connection elsewhere), kept until the thread lets its ledger go and then handed to
// each connection's loop in one post a loop. So a reply never wakes another loop while
// this ledger is still held (a short read arriving there right then would find it busy
// and queue behind this shard: Shard::read_here_or_queue), and a slice's replies cost one
// wake-up a loop, not one each. Replies for connections on this thread's own loop do
// not come here: they are sent at once (Connection::post_reply).
//
// One per shard, owned by the Server; filled and flushed on that shard's thread only
// (Connection::post_reply finds it through current()).
#pragma once

#include <asio/io_context.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bonus::server {

class Connection;

class ReplyBatch {
 public:
  // The batch the calling thread collects into (set by enter()), or null: replies made
  // on any other thread are posted one by one.
  static ReplyBatch* current() { return current_; }
  // On the shard's thread, once, before it makes any reply.
  void enter() { current_ = this; }

  void add(std::shared_ptr<Connection> connection, std::string frame);
  // Posts what was added to the connections' loops, which send each reply in order.
  void flush();

 private:
  using Replies = std::vector<std::pair<std::shared_ptr<Connection>, std::string>>;
  struct ForLoop {
    asio::io_context* io = nullptr;
    Replies replies;
  };

  static thread_local ReplyBatch* current_;
  std::vector<ForLoop> loops_;  // one entry per loop replied to since the last flush
};

}  // namespace bonus::server
