#pragma once
// One page of a listing as repositories and services hand it up: the items in order and the
// total over all pages. Routes render it with http::list / http::list_rendered.
#include <cstdint>
#include <vector>

namespace ticketd::core {

template <typename T>
struct Listing {
  std::vector<T> items;
  std::int64_t total = 0;
};

}  // namespace ticketd::core
