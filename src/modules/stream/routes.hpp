#pragma once
#include <memory>
#include <string>

#include "http/router.hpp"
#include "modules/stream/fanout.hpp"

namespace ticketd::stream {

// GET {base}/events/:eventId/stream.
void register_routes(http::Router& router, const std::string& base,
                     const std::shared_ptr<Fanout>& fanout);

}  // namespace ticketd::stream
