#include "http/request.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/url/parse_query.hpp>

#include "core/errors.hpp"
#include "core/json.hpp"

namespace ticketd::http {
namespace {

bool is_json_media_type(std::string_view ct) {
  const auto semi = ct.find(';');
  std::string_view mt = ct.substr(0, semi);
  while (!mt.empty() && mt.back() == ' ') mt.remove_suffix(1);
  std::string lower(mt);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json" ||
         (lower.starts_with("application/") && lower.ends_with("+json"));
}

}  // namespace

Request::Request(bhttp::request_header<> head, std::string remote_ip, std::string body)
    : head_(std::move(head)), body_(std::move(body)), remote_ip_(std::move(remote_ip)) {
  // HTTP/1.1 keeps the connection unless told "close"; 1.0 closes unless told "keep-alive".
  // "close" wins over anything else in the header.
  bool close_token = false;
  bool keep_alive_token = false;
  for (const auto& token : bhttp::token_list(head_[bhttp::field::connection])) {
    if (boost::beast::iequals(token, "close")) close_token = true;
    if (boost::beast::iequals(token, "keep-alive")) keep_alive_token = true;
  }
  keep_alive_ = !close_token && (head_.version() >= 11 || keep_alive_token);
  const std::string_view t = head_.target();
  const auto q = t.find('?');
  path_ = std::string(t.substr(0, q));
  if (q != std::string_view::npos) query_ = std::string(t.substr(q + 1));
  // "/health/live/" and "/health/live" are the same resource.
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
}

std::string_view Request::header(std::string_view name) const {
  auto it = head_.find(name);
  return it == head_.end() ? std::string_view{} : std::string_view(it->value());
}

std::string_view Request::header(bhttp::field name) const {
  auto it = head_.find(name);
  return it == head_.end() ? std::string_view{} : std::string_view(it->value());
}

std::optional<std::string_view> Request::param(std::string_view name) const {
  for (const auto& [k, v] : params_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  if (query_.empty()) return std::nullopt;
  auto parsed = boost::urls::parse_query(query_);
  if (!parsed) return std::nullopt;
  const boost::urls::encoding_opts form(/*space_as_plus=*/true);
  for (const auto& p : *parsed) {
    if (p.key.decode(form) == name) return p.has_value ? p.value.decode(form) : std::string{};
  }
  return std::nullopt;
}

const boost::json::value& Request::json() {
  if (json_) return *json_;
  const std::string_view ct = header(bhttp::field::content_type);
  if (body_.empty()) {
    throw core::ApiError(core::ErrorKind::kInvalid, "BODY_REQUIRED",
                         "A JSON request body is required",
                         {{"BODY_REQUIRED", "body", "Send a JSON object"}});
  }
  if (!is_json_media_type(ct)) {
    throw core::ApiError(core::ErrorKind::kUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
                         "Request body must be application/json",
                         {{"UNSUPPORTED_MEDIA_TYPE", "Content-Type", "Use application/json"}});
  }
  json_ = core::json::parse(body_);
  return *json_;
}

const boost::json::value* Request::json_if_present() {
  if (body_.empty()) return nullptr;
  return &json();
}

const core::Principal& Request::require_principal() const {
  if (!principal_) {
    throw core::ApiError(
        core::ErrorKind::kUnauthenticated, "AUTH_REQUIRED", "Authentication is required",
        {{"AUTH_REQUIRED", "Authorization", "Send Authorization: Bearer <token>"}});
  }
  return *principal_;
}

core::Actor Request::actor() const {
  const auto& p = require_principal();
  return core::Actor{p.user_id, p.api_key_id, request_id_, remote_ip_};
}

bool is_acceptable_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace ticketd::http
