#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/actor.hpp"

namespace ticketd::venues {

struct Venue {
  std::string id;
  std::string org_id;
  std::string name;
  std::optional<std::string> address;
  std::optional<std::string> city;
  std::optional<std::string> country;
  std::optional<std::string> timezone;
  std::int64_t section_count = 0;
  std::int64_t row_count = 0;
  std::int64_t seat_count = 0;
  std::string created_at;
};

struct RowInfo {
  std::string id;
  std::string name;
  std::int64_t sort_order = 0;
  std::int64_t seat_count = 0;
};

struct SectionInfo {
  std::string id;
  std::string name;
  std::string code;
  std::int64_t sort_order = 0;
  std::vector<RowInfo> rows;
};

struct VenueLayout {
  Venue venue;
  std::vector<SectionInfo> sections;
};

struct NewVenue {
  std::string name;
  std::optional<std::string> address;
  std::optional<std::string> city;
  std::optional<std::string> country;
  std::optional<std::string> timezone;
};

}  // namespace ticketd::venues
