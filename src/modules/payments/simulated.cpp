#include "modules/payments/simulated.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "http/client.hpp"

namespace ticketd::payments {

namespace asio = boost::asio;

asio::awaitable<Intent> SimulatedProvider::create_intent(IntentRequest request) {
  Intent intent;
  intent.provider_ref = "sim_" + core::random_hex(16);
  intent.checkout_url = options_.checkout_base + "/" + request.payment_id + "/complete";
  co_return intent;
}

SignatureVerdict SimulatedProvider::verify_webhook(std::string_view signature_header,
                                                   std::string_view raw_body,
                                                   std::int64_t now) const {
  return verify_webhook_signature(signature_header, raw_body, options_.secrets, now,
                                  options_.tolerance_seconds);
}

asio::awaitable<void> SimulatedProvider::refund(std::string provider_ref, std::int64_t amount_cents,
                                                std::string currency) {
  // Nothing leaves the machine: the simulated money is "returned" by recording it.
  core::log::info(
      "simulated refund",
      {{"providerRef", provider_ref}, {"amountCents", amount_cents}, {"currency", currency}});
  co_return;
}

asio::awaitable<Delivery> SimulatedProvider::complete(std::string provider_ref, std::string outcome,
                                                      std::int64_t amount_cents,
                                                      std::string currency,
                                                      std::string correlation_id) {
  boost::json::object body;
  body["provider"] = "simulated";
  body["providerEventId"] = "evt_" + core::random_hex(16);
  body["providerRef"] = provider_ref;
  body["status"] = outcome;
  body["amountCents"] = amount_cents;
  body["currency"] = currency;
  http::ClientRequest request;
  request.url = options_.webhook_url;
  request.body = boost::json::serialize(body);
  request.headers.emplace_back(
      "X-Webhook-Signature",
      sign_webhook(request.body, options_.secrets.front(), core::unix_seconds()));
  if (!correlation_id.empty()) request.headers.emplace_back("X-Request-Id", correlation_id);
  auto response = co_await http::fetch(std::move(request));
  co_return Delivery{response.status, std::move(response.body)};
}

}  // namespace ticketd::payments
