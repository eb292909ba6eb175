#pragma once
// The `simulated` provider: behaves like an external one without leaving the machine. Intents
// get a provider reference and a checkout URL; completing the checkout (the development route
// POST /dev/payments/:id/complete) makes it POST a correctly signed webhook to the API over
// HTTP, exactly as a real provider would, so the whole path (signature, duplicate detection,
// outbox, Kafka, consumer) is exercised.
#include <string>
#include <vector>

#include "modules/payments/provider.hpp"

namespace ticketd::payments {

struct SimulatedOptions {
  std::vector<std::string> secrets;  // the first one signs; all verify
  std::int64_t tolerance_seconds = 300;
  std::string webhook_url;    // where completed checkouts are delivered
  std::string checkout_base;  // checkout URL = checkout_base + "/" + payment id + "/complete"
};

struct Delivery {
  int status = 0;    // HTTP status of the webhook answer
  std::string body;  // its body (the API's envelope)
};

class SimulatedProvider final : public Provider {
 public:
  explicit SimulatedProvider(SimulatedOptions options) : options_(std::move(options)) {}

  std::string_view name() const noexcept override { return "simulated"; }
  // Set once at start-up, before requests are served.
  void set_webhook_url(std::string url) { options_.webhook_url = std::move(url); }
  boost::asio::awaitable<Intent> create_intent(IntentRequest request) override;
  SignatureVerdict verify_webhook(std::string_view signature_header, std::string_view raw_body,
                                  std::int64_t now) const override;
  boost::asio::awaitable<void> refund(std::string provider_ref, std::int64_t amount_cents,
                                      std::string currency) override;

  // The customer finished the checkout with `outcome` (SUCCEEDED or FAILED): deliver the signed
  // webhook. Throws when the API cannot be reached.
  boost::asio::awaitable<Delivery> complete(std::string provider_ref, std::string outcome,
                                            std::int64_t amount_cents, std::string currency,
                                            std::string correlation_id);

 private:
  SimulatedOptions options_;
};

}  // namespace ticketd::payments
