#pragma once
#include <string>

#include "http/router.hpp"

namespace ticketd::web {

// The demo page: GET /app (published events), /app/events/:eventId (live seat map) and
// /app/assets/:name (its script and style), served from the embedded copy of web/.
// The API reference: GET /<docs_path> (Swagger UI), /<docs_path>.json (the OpenAPI document) and
// /<docs_path>/assets/:name, embedded too: the page loads nothing from other origins.
void register_routes(http::Router& router, const std::string& docs_path);

}  // namespace ticketd::web
