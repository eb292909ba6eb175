#pragma once
// Expected failures, protocol-neutral. Services and validation throw ApiError; infrastructure
// throws InfraError. Only http/ turns a kind into a status code (http/envelope.cpp).
#include <boost/json/object.hpp>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::core {

enum class ErrorKind {
  kInvalid,               // malformed request: bad JSON, wrong types
  kUnauthenticated,       // missing or bad credentials
  kForbidden,             // visible but not allowed
  kNotFound,              // absent or invisible
  kMethodNotAllowed,      // path exists, method does not
  kConflict,              // state conflict
  kUnprocessable,         // well-formed but invalid values or rule violations
  kTooLarge,              // body over its limit
  kHeadersTooLarge,       // request head over its limit
  kUnsupportedMediaType,  // body that is not JSON
  kRateLimited,           // limiter said no
  kUnavailable,           // dependency down or overload shedding
  kInternal,              // a bug; never carries details to the client
};

struct FieldError {
  std::string code;
  std::string field;
  std::string message;
};

class ApiError : public std::exception {
 public:
  ApiError(ErrorKind kind, std::string code, std::string message,
           std::vector<FieldError> details = {})
      : kind_(kind),
        code_(std::move(code)),
        message_(std::move(message)),
        details_(std::move(details)) {}

  ErrorKind kind() const noexcept { return kind_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const std::vector<FieldError>& details() const noexcept { return details_; }
  // Seconds a client should wait before retrying (429 and 503 answers carry Retry-After).
  std::optional<int> retry_after() const noexcept { return retry_after_; }
  ApiError& with_retry_after(int seconds) {
    retry_after_ = seconds;
    return *this;
  }
  // What the client needs to act on the refusal (a queue position), sent as the envelope's data.
  const std::optional<boost::json::object>& data() const noexcept { return data_; }
  ApiError& with_data(boost::json::object data) {
    data_ = std::move(data);
    return *this;
  }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  ErrorKind kind_;
  std::string code_;
  std::string message_;
  std::vector<FieldError> details_;
  std::optional<int> retry_after_;
  std::optional<boost::json::object> data_;
};

// 404 NOT_FOUND "<resource> not found": the one answer for an absent or invisible resource.
inline ApiError not_found(std::string_view resource) {
  return ApiError(ErrorKind::kNotFound, "NOT_FOUND", std::string(resource) + " not found");
}

// A failure of PostgreSQL, Redis or Kafka, already classified. what() carries the internal detail
// for the log; the client only ever sees the generic text of its kind.
class InfraError : public std::runtime_error {
 public:
  InfraError(ErrorKind kind, std::string code, const std::string& detail)
      : std::runtime_error(detail), kind_(kind), code_(std::move(code)) {}
  ErrorKind kind() const noexcept { return kind_; }
  const std::string& code() const noexcept { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

}  // namespace ticketd::core
