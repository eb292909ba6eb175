#pragma once
// The only place that renders the JSON envelopes (openapi/openapi.yaml) and maps error kinds to
// statuses.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.hpp"
#include "core/listing.hpp"
#include "http/request.hpp"
#include "http/response.hpp"

namespace ticketd::http {

bhttp::status status_for(core::ErrorKind kind) noexcept;

// {"success":true,"message":...,"data":...,"meta":{"requestId","timestamp",...extra}}.
// `data` is serialized once; its hash becomes the response's weak ETag.
Response ok(const Request& req, const boost::json::value& data, std::string_view message = "OK",
            bhttp::status status = bhttp::status::ok, const boost::json::object& extra_meta = {});

inline Response created(const Request& req, const boost::json::value& data,
                        std::string_view message = "Created") {
  return ok(req, data, message, bhttp::status::created);
}

struct Page {
  std::int64_t page = 1;
  std::int64_t limit = 20;
  std::int64_t total = 0;
};
// A list: `data` is the array, meta carries page, limit, total and hasNext.
Response list(const Request& req, const boost::json::array& items, const Page& page,
              std::string_view message = "OK");

// The same with `data` already rendered (and its weak ETag computed) once for many readers, as
// cached snapshots do.
Response ok_rendered(const Request& req, std::string_view data_json, std::string etag,
                     bhttp::status status = bhttp::status::ok);
Response list_rendered(const Request& req, std::string_view data_json, std::string etag,
                       const Page& page);
// A listing of objects each already rendered as JSON (by SQL): joined into the data array;
// `page.total` comes from the listing.
Response list_rendered(const Request& req, const core::Listing<std::string>& listing, Page page);

// A listing of models, each rendered by `render(item)` (a boost::json::value); `page.total`
// comes from the listing. The one way routes answer a paged list.
template <typename T, typename Render>
Response list(const Request& req, const core::Listing<T>& listing, Page page, Render&& render) {
  boost::json::array items;
  items.reserve(listing.items.size());
  for (const auto& item : listing.items) items.push_back(render(item));
  page.total = listing.total;
  return list(req, items, page);
}

Response no_content(const Request& req);

// {"success":false,"message":...,"errors":[...],"meta":{...}}; errors always has an entry.
// Internal errors get a fixed text: nothing of the cause reaches the client.
Response error(std::string_view request_id, const core::ApiError& err);

}  // namespace ticketd::http
