// BodyBuffer: the body of the frame a connection is reading, grown as its bytes arrive
// (never to the announced size up front: a client that announces 4 MiB and sends one
// byte costs a few KiB), 8-byte aligned for FlatBuffers. After a large body the memory
// is given back, so an idle connection holds kInitialBytes at most.
// Owned by one Connection, on the network thread.
#pragma once

#include <algorithm>
#include <asio/buffer.hpp>
#include <cstdint>
#include <vector>

#include "protocol/messages.h"

namespace bonus::server {

class BodyBuffer {
 public:
  // Bodies up to this size get their whole room at once; larger ones start here and
  // double as they fill.
  static constexpr std::size_t kInitialBytes = 16 * 1024;

  // Starts a body of `size` bytes (size > 0).
  void begin(std::uint32_t size) {
    size_ = size;
    have_ = 0;
    reserve(std::min<std::size_t>(size, kInitialBytes));
  }
  // Room for the next read: up to the end of the body, doubling the buffer when full.
  asio::mutable_buffer space() {
    if (have_ == room_) reserve(std::min<std::size_t>(size_, room_ * 2));
    return asio::buffer(bytes() + have_, std::min(room_, size_) - have_);
  }
  void advance(std::size_t n) { have_ += n; }
  bool complete() const { return have_ == size_; }
  protocol::Body body() const { return {bytes(), size_}; }
  // Between frames: frees a buffer grown past kInitialBytes.
  void end() {
    if (room_ > kInitialBytes) {
      std::vector<std::uint64_t>().swap(words_);  // (`= {}` would keep the capacity)
      room_ = 0;
    }
    size_ = have_ = 0;
  }
  std::size_t capacity_bytes() const { return words_.capacity() * 8; }

 private:
  void reserve(std::size_t bytes) {
    if (bytes <= room_) return;
    words_.resize((bytes + 7) / 8);  // keeps what arrived
    room_ = bytes;
  }
  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(words_.data()); }
  const std::uint8_t* bytes() const { return reinterpret_cast<const std::uint8_t*>(words_.data()); }

  std::vector<std::uint64_t> words_;  // 8-byte aligned
  std::size_t room_ = 0;              // usable bytes of words_
  std::size_t size_ = 0;              // the body's announced size
  std::size_t have_ = 0;              // bytes arrived
};

}  // namespace bonus::server
