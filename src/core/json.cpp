#include "core/json.hpp"

#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>

#include "core/errors.hpp"

namespace ticketd::core::json {

boost::json::value parse(std::string_view text, std::size_t max_depth) {
  boost::json::parse_options opts;
  opts.max_depth = max_depth;
  boost::json::parser p({}, opts);
  boost::system::error_code ec;
  p.write(text.data(), text.size(), ec);
  if (ec) {
    throw ApiError(ErrorKind::kInvalid, "MALFORMED_JSON", "Request body is not valid JSON",
                   {{"MALFORMED_JSON", "body", ec.message()}});
  }
  return p.release();
}

std::string serialize(const boost::json::value& v) {
  return boost::json::serialize(v);
}

void append_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Runs of characters that need no escaping (nearly all of them) are appended at once.
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_quoted_or_null(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_quoted(out, *s);
  } else {
    out += "null";
  }
}

}  // namespace ticketd::core::json
