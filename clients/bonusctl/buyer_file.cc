#include "clients/bonusctl/buyer_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "clients/bonusctl/units.h"

namespace bonus::ctl {
namespace {

constexpr std::size_t kBufferBytes = 1 << 20;
static_assert(kBufferBytes > 2 * BuyerFile::kLineBytesMax);
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::variant<std::unique_ptr<BuyerFile>, std::string> BuyerFile::open(const std::string& path) {
  const bool from_stdin = path == "-";
  const int fd = from_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path + ": " + std::strerror(errno);
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!from_stdin) ::close(fd);
    return path + ": is a directory";
  }
  std::unique_ptr<BuyerFile> file(new BuyerFile(fd, !from_stdin));
  if (S_ISREG(st.st_mode)) {
    const off_t at = lseek(fd, 0, SEEK_CUR);
    file->bytes_total_ = static_cast<std::uint64_t>(st.st_size - (at > 0 ? at : 0));
  }
  if (auto error = file->start()) return (from_stdin ? "stdin" : path) + ": " + *error;
  return file;
}

BuyerFile::BuyerFile(int fd, bool owned) : fd_(fd), owned_(owned), buffer_(kBufferBytes) {}

BuyerFile::~BuyerFile() {
  if (owned_) ::close(fd_);
}

bool BuyerFile::fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  for (;;) {
    const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    eof_ = true;
    read_failed_ = n < 0;
    return false;
  }
}

std::optional<std::string_view> BuyerFile::read_line(bool& too_long) {
  too_long = false;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const std::size_t available = end_ - begin_;
    if (const void* nl = std::memchr(start, '\n', available)) {
      const auto length = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
      begin_ += length + 1;
      bytes_read_ += length + 1;
      return too_long ? std::string_view() : std::string_view(start, length);
    }
    if (available > kLineBytesMax) {  // drop it; keep reading up to its newline
      too_long = true;
      bytes_read_ += available;
      begin_ = end_ = 0;
      continue;
    }
    if (eof_) {
      if (available == 0) return too_long ? std::optional<std::string_view>("") : std::nullopt;
      begin_ = end_;
      bytes_read_ += available;
      return too_long ? std::string_view() : std::string_view(start, available);
    }
    fill();
  }
}

BuyerFile::Line BuyerFile::classify(std::string_view raw, std::uint64_t number) const {
  Line line;
  line.number = number;
  if (number == 1 && raw.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    raw.remove_prefix(kByteOrderMark.size());
  }
  const auto bad = [&](std::string_view reason) {
    line.kind = Line::Kind::bad;
    line.reason = reason;
    line.text = std::string(raw.substr(0, 80));
    return line;
  };
  std::string_view text = trim(raw);
  if (text.empty()) return bad("empty line");
  std::string field;
  if (column_) {
    auto fields = split_csv_line(text);
    if (fields.size() <= *column_) return bad("no buyer_id field");
    field = std::move(fields[*column_]);
    text = trim(field);
    if (text.empty()) return bad("empty buyer_id field");
  }
  NumberError why = NumberError::none;
  const auto buyer = parse_u64(text, &why);
  if (!buyer) return bad(number_error_name(why));
  line.kind = Line::Kind::buyer;
  line.buyer = *buyer;
  return line;
}

std::optional<std::string> BuyerFile::start() {
  fill();
  bool too_long = false;
  const auto first = read_line(too_long);
  if (!first) return read_failed_ ? std::optional<std::string>("read error") : std::nullopt;
  line_number_ = 1;
  if (too_long) {
    pending_ = Line{Line::Kind::bad, 1, 0, "line too long", ""};
    return std::nullopt;
  }
  std::string_view text = *first;
  if (text.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    text.remove_prefix(kByteOrderMark.size());
  }
  text = trim(text);
  if (parse_u64(text)) {
    pending_ = classify(text, 1);
    return std::nullopt;
  }
  const auto fields = split_csv_line(text);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (trim(fields[i]) == "buyer_id") {
      column_ = i;
      return std::nullopt;
    }
  }
  if (fields.size() > 1) {
    return "line 1 looks like a CSV header but has no buyer_id column";
  }
  pending_ = classify(text, 1);
  return std::nullopt;
}

BuyerFile::Line BuyerFile::next() {
  if (pending_) {
    Line line = std::move(*pending_);
    pending_.reset();
    return line;
  }
  bool too_long = false;
  const auto raw = read_line(too_long);
  if (!raw) {
    if (read_failed_) {
      read_failed_ = false;
      return Line{Line::Kind::bad, line_number_ + 1, 0, "read error", ""};
    }
    return Line{};
  }
  ++line_number_;
  if (too_long) return Line{Line::Kind::bad, line_number_, 0, "line too long", ""};
  return classify(*raw, line_number_);
}

}  // namespace bonus::ctl
