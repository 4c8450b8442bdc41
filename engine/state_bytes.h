// Writer and Reader of the state format's little-endian fields and big-endian keys
// (docs/state-format.md). Internal to StateCodec and StateLoader.
//
// Stateless helpers over a caller's buffer; any thread.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/ledger_records.h"
#include "engine/lot.h"

namespace bonus::state_bytes {

static_assert(std::endian::native == std::endian::little,
              "the state format is little-endian; add byte swaps for this target");

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  // Keys are big-endian, so that byte order (LMDB's) is numeric order.
  void key(std::uint64_t v) { put(__builtin_bswap64(v)); }
  void key(std::uint32_t v) { put(__builtin_bswap32(v)); }
  void lot(const Lot& l) {
    put(l.expires_at_us);
    put(l.origin);
    put(l.amount);
    put(l.seq_flags);
  }
  void month(const MonthReport& m) {
    put(m.month);
    put(std::uint16_t{0});
    put(std::uint32_t{0});
    put(m.accrued);
    put(m.confirmed);
    for (Amount v : m.credited) put(v);
    for (Amount v : {m.spent, m.refunded, m.reversed, m.expired, m.orders, m.orders_goods_kopecks}) {
      put(v);
    }
  }
  void counters(const Counters& c) {
    for (Amount v : {c.issued, c.accrued, c.spent, c.expired, c.refunded, c.reversed, c.held,
                     c.pending, c.debt, c.recipients, c.spenders}) {
      put(v);
    }
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool failed() const { return failed_; }
  std::size_t left() const { return in_.size() - pos_; }
  template <typename T>
  T get() {
    T v{};
    if (left() < sizeof(T)) {
      failed_ = true;
      return v;
    }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Lot lot() {
    Lot l;
    l.expires_at_us = get<TimeUs>();
    l.origin = get<std::uint64_t>();
    l.amount = get<std::uint32_t>();
    l.seq_flags = get<std::uint32_t>();
    return l;
  }
  MonthReport month() {
    MonthReport m;
    m.month = get<std::uint16_t>();
    if (get<std::uint16_t>() != 0 || get<std::uint32_t>() != 0) fail();
    m.accrued = get<Amount>();
    m.confirmed = get<Amount>();
    for (Amount& v : m.credited) v = get<Amount>();
    for (Amount* v : {&m.spent, &m.refunded, &m.reversed, &m.expired, &m.orders,
                      &m.orders_goods_kopecks}) {
      *v = get<Amount>();
    }
    return m;
  }
  Counters counters() {
    Counters c;
    for (Amount* v : {&c.issued, &c.accrued, &c.spent, &c.expired, &c.refunded, &c.reversed,
                      &c.held, &c.pending, &c.debt, &c.recipients, &c.spenders}) {
      *v = get<Amount>();
    }
    return c;
  }
  void fail() { failed_ = true; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// Each table's key of a record, big-endian (docs/state-format.md).
inline void key_of(std::uint32_t account_index, std::string& out) {
  out.clear();
  Writer(out).key(account_index);
}
inline void key_of(const Seller& s, std::string& out) {
  out.clear();
  Writer(out).key(s.seller);
}
inline void key_of(const Campaign& c, std::string& out) {
  out.clear();
  Writer w(out);
  w.key(c.seller);
  w.key(c.campaign);
}
inline void key_of(const HoldOrder& h, std::string& out) {
  out.clear();
  Writer(out).key(h.order);
}
inline void key_of(const AccrualOrder& a, std::string& out) {
  out.clear();
  Writer(out).key(a.order);
}
inline void key_of(const IdEntry& e, std::string& out) {
  out.clear();
  Writer w(out);
  w.key(e.id.hi);
  w.key(e.id.lo);
}

}  // namespace bonus::state_bytes
