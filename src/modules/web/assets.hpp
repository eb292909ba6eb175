#pragma once
// Pages embedded in the binary at build time (cmake/embed_files.cmake).
#include <string_view>
#include <vector>

namespace ticketd::web {

struct Asset {
  std::string_view name;  // file name, e.g. "seatmap.js"
  std::string_view content_type;
  std::string_view body;
};

// The seat-map page (web/).
const std::vector<Asset>& embedded_assets();
// The API reference: index.html, docs.js, docs.css (openapi/ui), Swagger UI's
// swagger-ui-bundle.js and swagger-ui.css, and openapi.json (openapi/openapi.yaml converted).
const std::vector<Asset>& embedded_docs();

}  // namespace ticketd::web
