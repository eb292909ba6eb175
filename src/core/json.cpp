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

}  // namespace ticketd::core::json
