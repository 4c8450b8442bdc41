// mail: a campaign's credit to every buyer of a file, streamed through a Mailing, with a
// progress meter on stderr and a summary at the end.
#include <unistd.h>

#include <cstdio>

#include "clients/bonusctl/buyer_file.h"
#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "clients/bonusctl/mailing.h"
#include "clients/bonusctl/progress_meter.h"
#include "clients/bonusctl/units.h"

namespace bonus::ctl {
namespace {

MailSpec mail_spec(const Context& c) {
  MailSpec spec;
  spec.seller = c.number("seller");
  spec.campaign = c.number("campaign");
  if (spec.campaign == 0) throw UsageError("--campaign 0: a mailing needs a campaign id above 0");
  spec.amount = c.amount("amount");
  spec.reason = c.reason("reason", spec.reason);
  if (c.has("ttl") == c.has("expires-at")) {
    throw UsageError("give one of --ttl or --expires-at");
  }
  if (c.has("expires-at")) {
    spec.life = LotLife::at(c.time("expires-at"));
  } else {
    const TimeUs ttl = c.ttl("ttl", true);
    spec.life = ttl == kTimeNever ? LotLife::forever() : LotLife::ttl_of(ttl);
  }
  return spec;
}

MailOptions mail_options(const Context& c) {
  MailOptions options;
  const std::uint64_t batch = c.maybe_number("batch").value_or(options.batch);
  const std::uint64_t window = c.maybe_number("window").value_or(options.window);
  if (batch == 0 || batch > protocol::kBatchCommandsMax) {
    throw UsageError("--batch: want 1.." + std::to_string(protocol::kBatchCommandsMax) +
                     " (and at most the server's --batch-commands-max)");
  }
  if (window == 0 || window > 512) throw UsageError("--window: want 1..512");
  const std::uint64_t tries = c.maybe_number("tries").value_or(options.attempts);
  if (tries == 0 || tries > 100) throw UsageError("--tries: want 1..100");
  options.attempts = static_cast<std::uint32_t>(tries);
  options.batch = static_cast<std::uint32_t>(batch);
  options.window = static_cast<std::uint32_t>(window);
  options.rate_max = static_cast<double>(c.maybe_number("rate-max").value_or(0));
  return options;
}

// `position`: the highest log position the answers named (every credit of the mail is
// at or before it: --at-least for a read on a standby).
void print_summary(const Context& c, const MailTally& t, std::uint64_t bad_lines, double seconds,
                   const std::string& failure, std::uint64_t position) {
  const double rate = seconds > 0 ? static_cast<double>(t.answered) / seconds : 0;
  if (c.json()) {
    JsonWriter j;
    j.begin_object()
        .field("status", failure.empty() ? "done" : "stopped")
        .field("buyers", t.sent)
        .field("answered", t.answered)
        .field("credited", t.credited)
        .field("credited_bonuses", t.credited_bonuses)
        .field("repeats", t.repeats)
        .field("repeat_bonuses", t.repeat_bonuses)
        .field("capped", t.capped)
        .field("capped_bonuses", t.capped_bonuses)
        .field("rejected", t.rejected);
    j.key("rejected_by_code").begin_object();
    for (const auto& [code, n] : t.rejected_by_code) j.field(code_name(Code{code}), n);
    j.end_object();
    j.field("bad_lines", bad_lines)
        .field("seconds", seconds)
        .field("credits_per_s", static_cast<std::uint64_t>(rate))
        .field("position", position);
    if (!failure.empty()) j.field("error", failure);
    c.print(j.end_object().text());
    return;
  }
  c.print("mail: " + std::to_string(t.answered) + " of " + std::to_string(t.sent) +
          " buyers answered in " + std::to_string(seconds).substr(0, 5) + " s (" +
          group_digits(static_cast<std::uint64_t>(rate)) + " credits/s)");
  c.print("  credited   " + std::to_string(t.credited) + " buyers, " +
          std::to_string(t.credited_bonuses) + " bonuses");
  c.print("  repeats    " + std::to_string(t.repeats) + " buyers, " +
          std::to_string(t.repeat_bonuses) + " bonuses (credited by an earlier run; unchanged)");
  c.print("  capped     " + std::to_string(t.capped) + " buyers, " +
          std::to_string(t.capped_bonuses) + " bonuses cut by the seller's caps");
  c.print("  rejected   " + std::to_string(t.rejected) + " buyers");
  for (const auto& [code, n] : t.rejected_by_code) {
    c.print("    " + std::string(code_name(Code{code})) + " (" + std::to_string(code) +
            "): " + std::to_string(n));
  }
  c.print("  bad lines  " + std::to_string(bad_lines) + " (skipped)");
  c.print("  log position " + std::to_string(position) + " (a read --at-least it sees the mail)");
}

void print_notes(Mailing& mailing) {
  for (const std::string& note : mailing.take_notes()) {
    std::fprintf(stderr, "bonusctl mail: %s\n", note.c_str());
  }
}

}  // namespace

int run_mail(Context& context) {
  const MailSpec spec = mail_spec(context);
  const MailOptions options = mail_options(context);
  auto opened = BuyerFile::open(context.text("buyers"));
  if (auto* error = std::get_if<std::string>(&opened)) {
    throw UsageError("--buyers " + *error);
  }
  BuyerFile& file = *std::get<std::unique_ptr<BuyerFile>>(opened);
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;

  Mailing mailing(*client, spec, options);
  const bool terminal = isatty(STDERR_FILENO) == 1;
  ProgressMeter meter(stderr, terminal, "bonusctl mail", "credits");
  std::uint64_t buyers = 0;
  std::uint64_t bad_lines = 0;
  bool reading = true;
  const auto show = [&] {
    print_notes(mailing);
    if (!context.invocation().progress) return;
    std::optional<std::uint64_t> total;
    if (!reading) {
      total = buyers;
    } else if (file.bytes_total() && file.bytes_read() > 0) {
      total = static_cast<std::uint64_t>(static_cast<double>(buyers) *
                                         static_cast<double>(*file.bytes_total()) /
                                         static_cast<double>(file.bytes_read()));
    }
    meter.update(mailing.tally().answered, total);
  };
  mailing.on_wait = show;

  bool ok = true;
  for (BuyerFile::Line line = file.next(); ok && line.kind != BuyerFile::Line::Kind::end;
       line = file.next()) {
    if (line.kind == BuyerFile::Line::Kind::bad) {
      ++bad_lines;
      std::fprintf(stderr, "bonusctl mail: line %llu: %.*s: skipped ('%s')\n",
                   static_cast<unsigned long long>(line.number),
                   static_cast<int>(line.reason.size()), line.reason.data(), line.text.c_str());
      continue;
    }
    ++buyers;
    ok = mailing.add(line.buyer, line.number);
    if (buyers % 4096 == 0) show();  // when the server keeps up, nothing ever waits
  }
  reading = false;
  ok = ok && mailing.finish();
  print_notes(mailing);
  const MailTally tally = mailing.tally();
  if (context.invocation().progress && ok) meter.finish(tally.answered);
  const std::string failure = mailing.failure();
  print_summary(context, tally, bad_lines, meter.seconds(), failure, client->position());
  if (!ok) {
    std::fprintf(stderr,
                 "bonusctl mail: stopped: %s\nbonusctl mail: run the same command again to go "
                 "on: buyers already credited are answered as repeats (within the server's id "
                 "window)\n",
                 failure.c_str());
    return kExitUnreachable;
  }
  return tally.rejected == 0 && bad_lines == 0 ? kExitApplied : kExitRejected;
}

}  // namespace bonus::ctl
