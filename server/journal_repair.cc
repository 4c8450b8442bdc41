// journal-repair: the operator's way past damage that bonusd refuses to start on (a
// corrupt record in a group whose trailer follows, a missing segment). Run it while bonusd
// is stopped: it takes the data directory's lock (server/data_lock.h) and refuses to run
// while bonusd (or another journal-repair) holds it. It reads the journal in --data as
// bonusd's start-up does and reports what it found and what dropping it would lose: the
// damaged group and everything after it. Only with --drop does it change anything: the
// dropped bytes are moved to cut-* files beside the segments (kept, never deleted), and
// bonusd then starts on the shorter journal.
//
// Exit status: 0 the journal is whole (or was repaired with --drop), 1 damage was found
// and not dropped, 2 the journal could not be read or changed, or the data directory is
// locked by a running bonusd.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "server/data_lock.h"
#include "server/journal.h"

int main(int argc, char** argv) {
  CLI::App app{"journal-repair: report (and with --drop, cut off) damage in bonusd's journal"};
  bonus::server::JournalOptions options;
  bool drop = false;
  app.add_option("--data", options.dir, "bonusd's data directory (holds the journal segments)")
      ->required();
  app.add_flag("--drop", drop,
               "cut the damaged group and everything after it, keeping the bytes in cut-* files");
  CLI11_PARSE(app, argc, argv);

  if (!std::filesystem::is_directory(options.dir)) {
    std::fprintf(stderr, "journal-repair: %s is not a directory\n", options.dir.c_str());
    return 2;
  }
  auto lock = bonus::server::DataLock::acquire(options.dir, "journal-repair");
  if (const auto* error = std::get_if<std::string>(&lock)) {
    std::fprintf(stderr, "journal-repair: %s\n", error->c_str());
    return 2;
  }

  const auto repaired = bonus::server::Journal::repair(options, drop);
  if (const auto* error = std::get_if<std::string>(&repaired)) {
    std::fprintf(stderr, "journal-repair: %s\n", error->c_str());
    return 2;
  }
  const auto& repair = std::get<bonus::server::JournalRepair>(repaired);
  std::printf("%s\n", repair.report.c_str());
  if (repair.damaged && !repair.dropped) return 1;
  return 0;
}
