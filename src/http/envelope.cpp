#include "http/envelope.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "core/crypto.hpp"
#include "core/time.hpp"

namespace ticketd::http {
namespace {

std::string quoted(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

boost::json::object base_meta(std::string_view request_id) {
  boost::json::object meta;
  meta["requestId"] = request_id;
  meta["timestamp"] = core::iso8601_now();
  return meta;
}

Response render_success(const Request& req, std::string_view data_json, std::string_view message,
                        bhttp::status status, const boost::json::object& extra_meta,
                        std::string etag = {}) {
  boost::json::object meta = base_meta(req.request_id());
  for (const auto& [k, v] : extra_meta) meta[k] = v;
  Response r;
  r.status = status;
  r.body.reserve(data_json.size() + 160);
  r.body += R"({"success":true,"message":)";
  r.body += quoted(message);
  r.body += R"(,"data":)";
  r.body += data_json;
  r.body += R"(,"meta":)";
  r.body += boost::json::serialize(meta);
  r.body += '}';
  r.etag = etag.empty() ? core::weak_etag(data_json) : std::move(etag);
  return r;
}

boost::json::object page_meta(const Page& page) {
  boost::json::object meta;
  meta["page"] = page.page;
  meta["limit"] = page.limit;
  meta["total"] = page.total;
  meta["hasNext"] = page.page * page.limit < page.total;
  return meta;
}

}  // namespace

bhttp::status status_for(core::ErrorKind kind) noexcept {
  using core::ErrorKind;
  switch (kind) {
    case ErrorKind::kInvalid:
      return bhttp::status::bad_request;
    case ErrorKind::kUnauthenticated:
      return bhttp::status::unauthorized;
    case ErrorKind::kForbidden:
      return bhttp::status::forbidden;
    case ErrorKind::kNotFound:
      return bhttp::status::not_found;
    case ErrorKind::kMethodNotAllowed:
      return bhttp::status::method_not_allowed;
    case ErrorKind::kConflict:
      return bhttp::status::conflict;
    case ErrorKind::kUnprocessable:
      return bhttp::status::unprocessable_entity;
    case ErrorKind::kTooLarge:
      return bhttp::status::payload_too_large;
    case ErrorKind::kHeadersTooLarge:
      return bhttp::status::request_header_fields_too_large;
    case ErrorKind::kUnsupportedMediaType:
      return bhttp::status::unsupported_media_type;
    case ErrorKind::kRateLimited:
      return bhttp::status::too_many_requests;
    case ErrorKind::kUnavailable:
      return bhttp::status::service_unavailable;
    case ErrorKind::kInternal:
      return bhttp::status::internal_server_error;
  }
  return bhttp::status::internal_server_error;
}

Response ok(const Request& req, const boost::json::value& data, std::string_view message,
            bhttp::status status, const boost::json::object& extra_meta) {
  return render_success(req, boost::json::serialize(data), message, status, extra_meta);
}

// A list's validator covers its total too: the same items with another total (rows added on a
// later page) must not answer 304.
static std::string list_etag(std::string_view data_json, const Page& page) {
  std::string tagged(data_json);
  tagged += '#';
  tagged += std::to_string(page.total);
  return core::weak_etag(tagged);
}

Response list(const Request& req, const boost::json::array& items, const Page& page,
              std::string_view message) {
  const std::string data = boost::json::serialize(items);
  return render_success(req, data, message, bhttp::status::ok, page_meta(page),
                        list_etag(data, page));
}

Response ok_rendered(const Request& req, std::string_view data_json, std::string etag,
                     bhttp::status status) {
  return render_success(req, data_json, status == bhttp::status::created ? "Created" : "OK", status,
                        {}, std::move(etag));
}

Response list_rendered(const Request& req, std::string_view data_json, std::string etag,
                       const Page& page) {
  // `etag` (computed once per rendered page) gains the total, as list_etag() does.
  if (etag.empty()) {
    etag = list_etag(data_json, page);
  } else if (etag.size() > 1 && etag.back() == '"') {
    etag.insert(etag.size() - 1, "-" + std::to_string(page.total));
  }
  return render_success(req, data_json, "OK", bhttp::status::ok, page_meta(page), std::move(etag));
}

Response list_rendered(const Request& req, const core::Listing<std::string>& listing, Page page) {
  std::size_t bytes = 2 + listing.items.size();
  for (const auto& item : listing.items) bytes += item.size();
  std::string data;
  data.reserve(bytes);
  data += '[';
  for (const auto& item : listing.items) {
    if (data.size() > 1) data += ',';
    data += item;
  }
  data += ']';
  page.total = listing.total;
  return list_rendered(req, data, std::string(), page);
}

Response no_content(const Request&) {
  Response r;
  r.status = bhttp::status::no_content;
  r.content_type.clear();
  return r;
}

Response error(std::string_view request_id, const core::ApiError& err) {
  const bool internal = err.kind() == core::ErrorKind::kInternal;
  // Both arms are string_views: a std::string arm would make the ternary a temporary string.
  const std::string_view message =
      internal ? std::string_view("Internal server error") : std::string_view(err.message());
  const std::string_view code =
      internal ? std::string_view("INTERNAL_ERROR") : std::string_view(err.code());
  boost::json::array errors;
  if (internal || err.details().empty()) {
    errors.push_back(boost::json::object{{"code", code}, {"message", message}});
  } else {
    for (const auto& d : err.details()) {
      boost::json::object e{{"code", d.code}, {"message", d.message}};
      if (!d.field.empty()) e["field"] = d.field;
      errors.push_back(std::move(e));
    }
  }
  boost::json::object body{{"success", false},
                           {"message", message},
                           {"errors", std::move(errors)},
                           {"meta", base_meta(request_id)}};
  if (!internal && err.data()) body["data"] = *err.data();
  Response r;
  r.status = status_for(err.kind());
  r.body = boost::json::serialize(body);
  if (auto ra = err.retry_after()) r.header("Retry-After", std::to_string(*ra));
  if (err.kind() == core::ErrorKind::kUnauthenticated) {
    // RFC 6750 §3: tell the client which scheme to use, and why a token was refused.
    r.header("WWW-Authenticate", err.code() == "INVALID_TOKEN"
                                     ? R"(Bearer realm="ticketd", error="invalid_token")"
                                     : R"(Bearer realm="ticketd")");
  }
  return r;
}

}  // namespace ticketd::http
