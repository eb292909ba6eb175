#pragma once
// Payment providers behind one interface: create an intent, verify a webhook, refund.
// A new provider is one new class registered in Providers; the webhook endpoint, the state
// machine and finalization are shared.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "modules/payments/signature.hpp"

namespace ticketd::payments {

struct IntentRequest {
  std::string payment_id;  // ours, chosen before the intent exists
  std::string reservation_id;
  std::int64_t amount_cents = 0;
  std::string currency;
};

struct Intent {
  std::string provider_ref;  // the provider's id of the intent; webhooks name it
  std::string checkout_url;  // where the customer completes the payment
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Lowercase id stored on payments and named by webhook bodies ("simulated").
  virtual std::string_view name() const noexcept = 0;
  // Throws core::InfraError (503) when the provider cannot be reached.
  virtual boost::asio::awaitable<Intent> create_intent(IntentRequest request) = 0;
  // Checks the signature header against the raw body at `now` (unix seconds).
  virtual SignatureVerdict verify_webhook(std::string_view signature_header,
                                          std::string_view raw_body, std::int64_t now) const = 0;
  // Returns the money of a succeeded payment. Throws core::InfraError when it could not.
  virtual boost::asio::awaitable<void> refund(std::string provider_ref, std::int64_t amount_cents,
                                              std::string currency) = 0;
};

class Providers {
 public:
  void add(std::unique_ptr<Provider> provider) {
    const std::string key(provider->name());
    providers_[key] = std::move(provider);
  }
  Provider* find(std::string_view name) const {
    auto it = providers_.find(name);
    return it == providers_.end() ? nullptr : it->second.get();
  }

 private:
  std::map<std::string, std::unique_ptr<Provider>, std::less<>> providers_;
};

}  // namespace ticketd::payments
