// BuyerFile: the recipients of a mailing, read as a stream, one buyer id a line, without
// loading the file. Two shapes:
//   plain  one decimal buyer id per line;
//   CSV    a first line naming columns, one of them `buyer_id` (quoted or not); each
//          later line is split at commas (double-quoted fields may hold commas, "" is a
//          quote) and that column is the buyer id.
// A first line that is a number makes the file plain; one with a comma but no
// `buyer_id` column is refused as a whole (open() says why). Any line that is not
// exactly one unsigned 64-bit decimal id (spaces, tabs and a CR around it allowed) is
// a bad line: next() returns it with its line number and reason, and the caller skips
// it. Lines are counted from 1, the header included. A UTF-8 byte-order mark is ignored.
// Memory: one read buffer; a line longer than kLineBytesMax is a bad line.
// One thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/types.h"

namespace bonus::ctl {

class BuyerFile {
 public:
  static constexpr std::size_t kLineBytesMax = 64 * 1024;

  struct Line {
    enum class Kind : std::uint8_t { buyer, bad, end };
    Kind kind = Kind::end;
    std::uint64_t number = 0;  // line number, from 1
    BuyerId buyer = 0;         // kind buyer
    std::string_view reason;   // kind bad: why (static text)
    std::string text;          // kind bad: the line as read (cut to 80 bytes)
  };

  // `path` "-" reads standard input. Fails (with a message) when the file cannot be
  // opened or read, or its header names no buyer_id column.
  static std::variant<std::unique_ptr<BuyerFile>, std::string> open(const std::string& path);
  ~BuyerFile();
  BuyerFile(const BuyerFile&) = delete;
  BuyerFile& operator=(const BuyerFile&) = delete;

  // The next line; Kind::end at the end of the file. A read error after opening is a
  // bad line with reason "read error" followed by the end.
  Line next();

  // The CSV column of buyer_id, when the file is CSV.
  std::optional<std::size_t> csv_column() const { return column_; }
  std::uint64_t bytes_read() const { return bytes_read_; }
  // The file's size when it is a regular file (for progress); nothing for pipes.
  std::optional<std::uint64_t> bytes_total() const { return bytes_total_; }

 private:
  explicit BuyerFile(int fd, bool owned);
  // The next raw line without its '\n'; nothing at the end. `too_long` when it passed
  // kLineBytesMax (the rest of it is skipped).
  std::optional<std::string_view> read_line(bool& too_long);
  bool fill();
  Line classify(std::string_view line, std::uint64_t number) const;
  // Reads the first line and decides the shape; an error message when refused.
  std::optional<std::string> start();

  int fd_ = -1;
  bool owned_ = false;
  bool eof_ = false;
  bool read_failed_ = false;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  std::string long_line_;  // a line that spans buffer refills
  std::uint64_t line_number_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::optional<std::uint64_t> bytes_total_;
  std::optional<std::size_t> column_;
  std::optional<Line> pending_;  // the first line when it is data
};

// Splits one CSV line into fields: commas separate, a field in double quotes may hold
// commas and "" for a quote. Spaces around a field are kept. Exposed for tests.
std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace bonus::ctl
