#pragma once
#include "http/router.hpp"

namespace ticketd::web {

// The demo page: GET /app (published events), /app/events/:eventId (live seat map) and
// /app/assets/:name (its script and style), served from the embedded copy of web/.
void register_routes(http::Router& router);

}  // namespace ticketd::web
