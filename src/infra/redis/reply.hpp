#pragma once
// A Redis reply (RESP2) as a plain value, detached from hiredis' memory.
#include <string>
#include <vector>

namespace ticketd::infra::redis {

struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

  Type type = Type::kNil;
  long long integer = 0;        // kInteger
  std::string str;              // kString (binary-safe), kStatus, kError (the server's message)
  std::vector<Reply> elements;  // kArray

  bool is_nil() const noexcept { return type == Type::kNil; }
  bool is_error() const noexcept { return type == Type::kError; }
};

}  // namespace ticketd::infra::redis
