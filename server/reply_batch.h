// ReplyBatch: the replies a shard's thread makes while it holds its ledger (a read's, a
// write's once its last command is applied), kept until the thread lets the ledger go and
// then handed to the network thread in one post. So a reply never wakes the network
// thread while the ledger is still held (a short read arriving right then would find it
// busy and queue behind the shard: Shard::read_here_or_queue), and a slice's replies cost
// one wake-up, not one each.
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
  explicit ReplyBatch(asio::io_context& io) : io_(io) {}

  // The batch the calling thread collects into (set by enter()), or null: replies made
  // on any other thread are posted one by one.
  static ReplyBatch* current() { return current_; }
  // On the shard's thread, once, before it makes any reply.
  void enter() { current_ = this; }

  void add(std::shared_ptr<Connection> connection, std::string frame) {
    replies_.emplace_back(std::move(connection), std::move(frame));
  }
  // Posts what was added to the network thread, which sends each reply in order.
  void flush();

 private:
  static thread_local ReplyBatch* current_;
  asio::io_context& io_;
  std::vector<std::pair<std::shared_ptr<Connection>, std::string>> replies_;
};

}  // namespace bonus::server
