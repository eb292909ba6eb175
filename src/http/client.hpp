#pragma once
// A minimal HTTP/1.1 client for calls ticketd makes itself (the simulated payment provider
// delivering webhooks). One request per connection, bounded by one deadline and a response
// size limit; plain HTTP only.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace ticketd::http {

struct ClientRequest {
  std::string url;  // http://host[:port]/path
  std::string method = "POST";
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5'000};
  std::size_t max_response_bytes = 1 << 20;
};

struct ClientResponse {
  int status = 0;
  std::string body;
};

// Throws std::runtime_error for a bad URL, and boost::system::system_error for connection
// failures and the deadline.
boost::asio::awaitable<ClientResponse> fetch(ClientRequest request);

}  // namespace ticketd::http
