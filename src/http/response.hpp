#pragma once
#include <boost/beast/http/status.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ticketd::http {

namespace bhttp = boost::beast::http;

namespace sse {
class Stream;
}

struct Response {
  bhttp::status status = bhttp::status::ok;
  std::string content_type = "application/json";
  std::string body;
  // Weak validator of the payload (not the envelope, whose meta changes every time); GET
  // answers 304 when If-None-Match matches it.
  std::string etag;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set by a handler that takes the connection over for a text/event-stream (see http/sse.hpp):
  // the server writes the status line and headers, then runs the stream until it ends, and
  // closes the connection. `body` is ignored then.
  std::shared_ptr<sse::Stream> stream;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace ticketd::http
