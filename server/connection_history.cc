// Connection's statement reads (opcodes history and order): decoded and checked on the
// connection's thread, then read on the history reader's thread (server/history_reader.h)
// from a read transaction of the history store (server/history_store.h), and replied
// through post_reply. A page is at most kHistoryPageMax events; one of many events, or
// one whose LMDB pages must come from the disk, keeps this thread's other connections
// waiting for nothing. docs/performance.md has the figures.
#include "server/connection.h"
#include "server/reply_frame.h"
#include "server/server.h"

namespace bonus::server {

using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

void Connection::handle_history(const FrameHeader& h, Body body) {
  protocol::HistoryQuery query;
  const bool by_order = h.opcode == Opcode::order;
  const FrameError e =
      by_order ? protocol::decode_order(body, query) : protocol::decode_history(body, query);
  if (e != FrameError::none) return reply_error(h.request_id, e, "history request refused", true);
  const HistoryStore* history = server_.history();
  if (history == nullptr) {
    return reply_error(h.request_id, FrameError::history_unavailable, server_.why_no_history(),
                       true);
  }
  // At a position (flag kPosition): the page says the history store's own, which trails
  // the ledger by up to a checkpoint interval (protocol/README.md).
  std::uint64_t ledger_position = 0;
  const bool at_position = take_position(h.request_id, ledger_position);
  server_.history_reader().submit([self = shared_from_this(), history, query, by_order,
                                   op = h.opcode, rid = h.request_id, at_position] {
    HistoryPage page;
    const auto error =
        by_order ? history->order_page(query.order, query.from, query.limit, page)
                 : history->account_page(query.seller, query.buyer, query.from, query.limit, page);
    if (error) return self->post_reply(error_frame(rid, FrameError::history_unavailable, *error));
    protocol::HistoryAnswer answer;
    answer.entries = std::move(page.entries);
    answer.next = page.next;
    answer.done = page.done;
    answer.position = page.info.position;
    answer.complete_from = page.info.complete_from;
    answer.trimmed_before_us = page.info.trimmed_before_us;
    flatbuffers::FlatBufferBuilder fbb(1024);
    protocol::encode_history_reply(answer, fbb);
    self->post_reply(at_position ? reply_frame_at(op, rid, answer.position, fbb)
                                 : reply_frame(op, rid, fbb));
  });
}

}  // namespace bonus::server
