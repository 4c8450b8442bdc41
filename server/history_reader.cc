#include "server/history_reader.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <future>

#include "server/thread_name.h"

namespace bonus::server {

HistoryReader::HistoryReader(int nice) {
  // Constructed once the thread is at its nice value (set from inside: Linux applies it to
  // the calling thread alone) and named.
  std::promise<void> niced;
  std::future<void> at_nice = niced.get_future();
  thread_ = std::thread([this, nice, niced = std::move(niced)]() mutable {
    if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
    niced.set_value();
    run();
  });
  name_thread(thread_, "bonus-history");
  at_nice.wait();
}

HistoryReader::~HistoryReader() {
  stop();
}

void HistoryReader::submit(Read read) {
  reads_.push(std::move(read));
}

void HistoryReader::stop() {
  reads_.close();
  if (thread_.joinable()) thread_.join();
}

void HistoryReader::run() {
  std::deque<Read> batch;
  // take_all is false once closed and empty: what was queued before stop() runs first.
  while (reads_.take_all(batch, std::chrono::seconds(1))) {
    for (Read& read : batch) read();
    batch.clear();
  }
}

}  // namespace bonus::server
