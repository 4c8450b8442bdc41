#include "clients/bonusctl/mailing.h"

#include <thread>

#include "engine/hash.h"

namespace bonus::ctl {
namespace {

using Clock = std::chrono::steady_clock;
using client::Status;

// Worth sending again with the same ids: the server may come back or have room later.
bool retryable(const client::Reply<std::vector<Result>>& reply) {
  switch (reply.status) {
    case Status::timeout:
    case Status::disconnected:
      return true;
    case Status::refused:
      // not_leader and storage_failed: a standby, or a leader that just stepped down; the
      // client moves to the next address (ClientOptions::others).
      return reply.error == protocol::FrameError::too_many_in_flight ||
             reply.error == protocol::FrameError::shutting_down ||
             reply.error == protocol::FrameError::too_many_connections ||
             reply.error == protocol::FrameError::not_leader ||
             reply.error == protocol::FrameError::storage_failed;
    default:
      return false;
  }
}

std::string describe(const client::Reply<std::vector<Result>>& reply) {
  std::string text(client::status_name(reply.status));
  if (reply.status == Status::refused) {
    text += " (" + std::string(protocol::frame_error_name(reply.error)) + ")";
  }
  if (!reply.message.empty()) text += ": " + reply.message;
  return text;
}

}  // namespace

Id128 mail_id(SellerId seller, CampaignId campaign, BuyerId buyer) {
  std::uint64_t hi = hash_pair(hash_pair(kMailIdTag, seller), campaign);
  if (hi == 0) hi = 1;
  return Id128{hi, buyer};
}

Mailing::Mailing(client::Client& client, const MailSpec& spec, const MailOptions& options)
    : client_(client), spec_(spec), options_(options), started_(Clock::now()) {}

Mailing::~Mailing() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return in_flight_ == 0; });
}

bool Mailing::add(BuyerId buyer, std::uint64_t line) {
  if (!filling_) {
    filling_ = std::make_shared<Batch>();
    filling_->credits.reserve(options_.batch);
    filling_->lines.reserve(options_.batch);
  }
  Credit credit;
  credit.id = mail_id(spec_.seller, spec_.campaign, buyer);
  credit.seller = spec_.seller;
  credit.buyer = buyer;
  credit.amount = spec_.amount;
  credit.campaign = spec_.campaign;
  credit.life = spec_.life;
  credit.reason = spec_.reason;
  filling_->credits.push_back(credit);
  filling_->lines.push_back(line);
  if (filling_->credits.size() < options_.batch) return true;
  if (!pump(false)) return false;
  pace();
  {
    std::lock_guard lock(mutex_);
    tally_.sent += filling_->credits.size();
  }
  send(std::move(filling_));
  return true;
}

bool Mailing::finish() {
  if (filling_ && !filling_->credits.empty()) {
    if (!pump(false)) return false;
    pace();
    {
      std::lock_guard lock(mutex_);
      tally_.sent += filling_->credits.size();
    }
    send(std::move(filling_));
  }
  return pump(true);
}

void Mailing::pace() {
  if (options_.rate_max <= 0) return;
  std::uint64_t sent = 0;
  {
    std::lock_guard lock(mutex_);
    sent = tally_.sent;
  }
  const auto due =
      started_ + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(sent) / options_.rate_max));
  while (Clock::now() < due) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
    if (on_wait) on_wait();
  }
}

void Mailing::send(std::shared_ptr<Batch> batch) {
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  ++batch->attempts;
  const std::span<const Credit> credits(batch->credits);
  client_.write_batch_async(credits, [this, batch](client::Reply<std::vector<Result>> reply) {
    on_reply(batch, std::move(reply));
  });
}

void Mailing::on_reply(const std::shared_ptr<Batch>& batch,
                       client::Reply<std::vector<Result>> reply) {
  std::lock_guard lock(mutex_);
  --in_flight_;
  if (reply.ok() && reply.value.size() == batch->credits.size()) {
    count(*batch, reply.value);
  } else if (reply.ok()) {
    failure_ = "the server answered " + std::to_string(reply.value.size()) + " results to " +
               std::to_string(batch->credits.size()) + " credits";
  } else if (retryable(reply) && batch->attempts < options_.attempts) {
    const auto backoff = std::chrono::milliseconds(100) * (1u << std::min(batch->attempts, 5u));
    batch->due = Clock::now() + backoff;
    retries_.push_back(batch);
    if (batch->attempts > retry_noted_) {  // one note per round of retries, not per batch
      retry_noted_ = batch->attempts;
      notes_.push_back("no answer: " + describe(reply) + "; sending again (try " +
                       std::to_string(batch->attempts + 1) + " of " +
                       std::to_string(options_.attempts) + ")");
    }
  } else if (failure_.empty()) {
    failure_ = describe(reply);
    if (batch->attempts > 1) failure_ += " (after " + std::to_string(batch->attempts) + " tries)";
  }
  changed_.notify_all();
}

void Mailing::count(const Batch& batch, const std::vector<Result>& results) {
  tally_.answered += results.size();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    if (r.ok()) {
      const bool repeat = (r.flags & Result::kRepeat) != 0;
      (repeat ? tally_.repeats : tally_.credited) += 1;
      (repeat ? tally_.repeat_bonuses : tally_.credited_bonuses) += r.amount;
      if ((r.flags & (Result::kCappedBalance | Result::kCappedEarn)) != 0) {
        ++tally_.capped;
        tally_.capped_bonuses += spec_.amount - r.amount;
      }
      continue;
    }
    ++tally_.rejected;
    const auto code = static_cast<std::uint16_t>(r.code);
    if (++tally_.rejected_by_code[code] <= options_.notes_per_code_max) {
      notes_.push_back("rejected: line " + std::to_string(batch.lines[i]) + ": buyer " +
                       std::to_string(batch.credits[i].buyer) + ": " +
                       std::string(code_name(r.code)) + " (" + std::to_string(code) + ")" +
                       ((r.flags & Result::kRepeat) != 0 ? ", as before" : ""));
    }
  }
}

bool Mailing::pump(bool all) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!failure_.empty()) return false;
    if (!retries_.empty() && retries_.front()->due <= Clock::now()) {
      auto batch = std::move(retries_.front());
      retries_.pop_front();
      lock.unlock();
      send(std::move(batch));
      lock.lock();
      continue;
    }
    const std::size_t out = in_flight_ + retries_.size();
    if (all ? out == 0 : out < options_.window) return true;
    changed_.wait_for(lock, std::chrono::milliseconds(50));
    if (on_wait) {
      lock.unlock();
      on_wait();
      lock.lock();
    }
  }
}

MailTally Mailing::tally() const {
  std::lock_guard lock(mutex_);
  return tally_;
}

std::string Mailing::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::vector<std::string> Mailing::take_notes() {
  std::lock_guard lock(mutex_);
  return std::exchange(notes_, {});
}

}  // namespace bonus::ctl
