#pragma once
// The seat-map page (web/), embedded in the binary at build time (cmake/embed_web.cmake).
#include <string_view>
#include <vector>

namespace ticketd::web {

struct Asset {
  std::string_view name;  // file name in web/, e.g. "seatmap.js"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<Asset>& embedded_assets();

}  // namespace ticketd::web
