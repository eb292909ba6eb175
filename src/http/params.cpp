#include "http/params.hpp"

#include "core/ids.hpp"

namespace ticketd::http {

std::string uuid_param(const Request& req, std::string_view name, std::string_view resource) {
  const auto v = req.param(name);
  auto id = v ? core::canonical_uuid(*v) : std::nullopt;
  if (!id) throw core::not_found(resource);
  return std::move(*id);
}

core::ApiError invalid_query(std::string_view name, std::string message) {
  return core::ApiError(core::ErrorKind::kUnprocessable, "INVALID_QUERY",
                        "Invalid query parameter " + std::string(name),
                        {{"INVALID_QUERY", std::string(name), std::move(message)}});
}

}  // namespace ticketd::http
