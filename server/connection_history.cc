// Connection's statement reads (opcodes history and order): served on the network thread
// from a read transaction of the history store (server/history_store.h). A page is at
// most kHistoryPageMax events, one range read; a page whose LMDB pages are not in memory
// waits for the disk on this thread (a cold page; not measured here), which the other
// connections of this thread wait for too. docs/performance.md has the figures.
#include "server/connection.h"
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
  HistoryPage page;
  const auto error =
      by_order ? history->order_page(query.order, query.from, query.limit, page)
               : history->account_page(query.seller, query.buyer, query.from, query.limit, page);
  if (error) return reply_error(h.request_id, FrameError::history_unavailable, *error, true);
  protocol::HistoryAnswer answer;
  answer.entries = std::move(page.entries);
  answer.next = page.next;
  answer.done = page.done;
  answer.position = page.info.position;
  answer.complete_from = page.info.complete_from;
  answer.trimmed_before_us = page.info.trimmed_before_us;
  flatbuffers::FlatBufferBuilder fbb(1024);
  protocol::encode_history_reply(answer, fbb);
  send(protocol::make_frame(h.opcode, protocol::kReply, h.request_id,
                            Body{fbb.GetBufferPointer(), fbb.GetSize()}),
       true);
}

}  // namespace bonus::server
