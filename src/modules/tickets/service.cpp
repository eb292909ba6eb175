#include "modules/tickets/service.hpp"

#include <sodium.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value_to.hpp>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "modules/iam/policy.hpp"

namespace ticketd::tickets {

namespace asio = boost::asio;
namespace json = boost::json;
using core::ApiError;
using core::ErrorKind;
using iam::Decision;
using iam::OrgAction;

namespace {

std::string to_hex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  std::size_t len = 0;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, nullptr) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string seal(std::string_view seed, std::string_view key) {
  std::string nonce(crypto_secretbox_NONCEBYTES, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  std::string box(crypto_secretbox_MACBYTES + seed.size(), '\0');
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(box.data()),
                        reinterpret_cast<const unsigned char*>(seed.data()), seed.size(),
                        reinterpret_cast<const unsigned char*>(nonce.data()),
                        reinterpret_cast<const unsigned char*>(key.data()));
  return nonce + box;
}

std::optional<std::string> unseal(std::string_view sealed, std::string_view key) {
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 32) {
    return std::nullopt;
  }
  const auto nonce = sealed.substr(0, crypto_secretbox_NONCEBYTES);
  const auto box = sealed.substr(crypto_secretbox_NONCEBYTES);
  std::string seed(box.size() - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(seed.data()),
                                 reinterpret_cast<const unsigned char*>(box.data()), box.size(),
                                 reinterpret_cast<const unsigned char*>(nonce.data()),
                                 reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return std::nullopt;
  }
  return seed;
}

// The JSON of a ticket or order for its owner or a member of its organization; 404 otherwise,
// exactly as for an unknown id.
std::string readable(const core::Principal& caller, std::optional<Owned> found,
                     std::string_view resource) {
  if (!found || iam::decide_owned(caller, found->user_id, found->org_id, OrgAction::kRead) !=
                    Decision::kAllow) {
    throw core::not_found(resource);
  }
  return std::move(found->json);
}

ApiError ticket_not_found() {
  return ApiError(ErrorKind::kNotFound, "TICKET_NOT_FOUND", "Ticket not found",
                  {{"TICKET_NOT_FOUND", "code", "no ticket has this code"}});
}

std::string seal_key_from(std::string_view signing_secret) {
  static constexpr std::string_view kContext = "ticketd/org-ticket-keys/v1";
  std::string key(crypto_secretbox_KEYBYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(kContext.data()), kContext.size(),
                     reinterpret_cast<const unsigned char*>(signing_secret.data()),
                     std::min<std::size_t>(signing_secret.size(), crypto_generichash_KEYBYTES_MAX));
  return key;
}

}  // namespace

Service::Service(Repository& repo, events::Service& events, const std::string& signing_secret,
                 const std::vector<std::string>& previous_secrets, core::metrics::Registry& metrics)
    : repo_(repo),
      events_(events),
      finalized_(metrics.counter("ticketd_payments_finalized_total",
                                 "payment.succeeded finalizations by action (issue, "
                                 "refund_required, noop)",
                                 {"action"})),
      check_ins_(metrics.counter("ticketd_check_ins_total",
                                 "Check-in attempts by result (ok, already, wrong_event, "
                                 "not_issued, not_found)",
                                 {"result"})),
      issued_(metrics.counter("ticketd_tickets_issued_total", "Tickets issued").get()) {
  seal_keys_.push_back(seal_key_from(signing_secret));
  for (const auto& previous : previous_secrets) seal_keys_.push_back(seal_key_from(previous));
}

asio::awaitable<std::shared_ptr<const KeyPair>> Service::key_of(std::string org_id) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = keys_.find(org_id); it != keys_.end()) co_return it->second;
  }
  auto stored = co_await repo_.find_key(org_id);
  if (!stored) {
    auto fresh = new_key_pair();
    StoredKey key;
    key.key_id = key_id_of(fresh.public_key);
    key.public_key_hex = to_hex(fresh.public_key);
    key.sealed_secret_hex = to_hex(seal(seed_of(fresh), seal_keys_.front()));
    const bool org_exists = co_await repo_.insert_key(org_id, std::move(key));
    if (!org_exists) co_return nullptr;
    stored = co_await repo_.find_key(org_id);  // the winner of a concurrent creation
    if (!stored) co_return nullptr;
  }
  const auto sealed = from_hex(stored->sealed_secret_hex);
  std::optional<std::string> seed;
  std::size_t opened_with = 0;
  for (; sealed && !seed && opened_with < seal_keys_.size(); ++opened_with) {
    seed = unseal(*sealed, seal_keys_[opened_with]);
  }
  if (!seed) {
    // A different TICKET_SIGNING_SECRET than the one that sealed the key: refusing beats
    // minting codes no scanner accepts.
    throw core::InfraError(ErrorKind::kInternal, "TICKET_KEY_UNREADABLE",
                           "organization ticket key cannot be unsealed with TICKET_SIGNING_SECRET");
  }
  if (opened_with > 1) {
    // Sealed with a previous secret: sealed again with the current one, so that the previous
    // secret can be dropped once every organization's key has been used (docs/OPERATIONS.md).
    std::string resealed = to_hex(seal(*seed, seal_keys_.front()));
    std::string old_sealed = stored->sealed_secret_hex;
    co_await repo_.reseal_key(org_id, std::move(old_sealed), std::move(resealed));
    core::log::info("ticket key sealed again with the current TICKET_SIGNING_SECRET",
                    {{"orgId", org_id}});
  }
  auto key = std::make_shared<const KeyPair>(key_pair_from_seed(*seed));
  std::lock_guard lock(mutex_);
  keys_.emplace(org_id, key);
  co_return key;
}

asio::awaitable<Finalized> Service::finalize(std::string payment_id, std::string correlation_id) {
  Minter mint =
      [this](std::string org_id, std::string event_id,
             int units) -> asio::awaitable<std::vector<std::pair<std::string, std::string>>> {
    auto key = co_await key_of(org_id);
    if (!key) {
      throw core::InfraError(ErrorKind::kInternal, "TICKET_KEY_MISSING", "organization not found");
    }
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(static_cast<std::size_t>(units));
    for (int i = 0; i < units; ++i) {
      auto id = core::new_uuid();
      auto code = make_ticket_code(id, event_id, *key);
      out.emplace_back(std::move(id), std::move(code));
    }
    co_return out;
  };
  FinalizeResult result = co_await repo_.finalize(payment_id, correlation_id, mint);
  Finalized out;
  out.action = result.action;
  if (result.action == Finalization::kIssue) {
    out.order_id = result.order_id;
    out.tickets = result.tickets;
    issued_.inc(static_cast<double>(out.tickets));
    finalized_.with({"issue"}).inc();
    core::log::info("tickets issued", {{"paymentId", payment_id},
                                       {"orderId", out.order_id},
                                       {"tickets", out.tickets},
                                       {"correlationId", correlation_id}});
    if (!result.sold_seats.empty()) {
      std::string seats_json = events::Service::seat_statuses(result.sold_seats, "SOLD");
      std::string type = "seat.sold";
      co_await events_.seats_changed(std::move(result.event_id), std::move(type),
                                     std::move(result.reservation_id), std::move(seats_json));
    }
  } else if (result.action == Finalization::kRefundRequired) {
    finalized_.with({"refund_required"}).inc();
    core::log::warn(
        "paid reservation no longer holds its seats: refund required",
        {{"paymentId", payment_id}, {"reason", result.reason}, {"correlationId", correlation_id}});
  } else {
    finalized_.with({"noop"}).inc();
  }
  co_return out;
}

asio::awaitable<std::string> Service::ticket(const core::Principal& caller, std::string id) {
  auto found = co_await repo_.find_ticket(std::move(id));
  co_return readable(caller, std::move(found), "Ticket");
}

asio::awaitable<std::string> Service::order(const core::Principal& caller, std::string id) {
  auto found = co_await repo_.find_order(std::move(id));
  co_return readable(caller, std::move(found), "Order");
}

asio::awaitable<core::Listing<std::string>> Service::my_tickets(const core::Principal& caller,
                                                                std::int64_t limit,
                                                                std::int64_t offset) {
  if (caller.user_id.empty()) co_return core::Listing<std::string>{};
  std::string user = caller.user_id;
  auto page = co_await repo_.tickets_of_user(std::move(user), limit, offset);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Service::my_orders(const core::Principal& caller,
                                                               std::int64_t limit,
                                                               std::int64_t offset) {
  if (caller.user_id.empty()) co_return core::Listing<std::string>{};
  std::string user = caller.user_id;
  auto page = co_await repo_.orders_of_user(std::move(user), limit, offset);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Service::event_tickets(const core::Principal& caller,
                                                                   std::string event_id,
                                                                   std::int64_t limit,
                                                                   std::int64_t offset) {
  co_await events_.staff_view(caller, event_id);
  auto page = co_await repo_.tickets_of_event(std::move(event_id), limit, offset);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Service::event_orders(const core::Principal& caller,
                                                                  std::string event_id,
                                                                  std::int64_t limit,
                                                                  std::int64_t offset) {
  co_await events_.staff_view(caller, event_id);
  auto page = co_await repo_.orders_of_event(std::move(event_id), limit, offset);
  co_return page;
}

asio::awaitable<std::string> Service::event_stats(const core::Principal& caller,
                                                  std::string event_id) {
  co_await events_.staff_view(caller, event_id);
  auto stats = co_await repo_.event_stats(std::move(event_id));
  if (stats.empty()) throw core::not_found("Event");
  co_return stats;
}

asio::awaitable<std::string> Service::check_in(const core::Principal& caller, std::string event_id,
                                               std::string code) {
  auto event = co_await events_.staff_view(caller, event_id);
  iam::authorize(caller, event.org_id, OrgAction::kWrite, "Event");
  const auto parsed = parse_ticket_code(code);
  if (!parsed) {
    check_ins_.with({"not_found"}).inc();
    throw ticket_not_found();
  }
  // Offline-verifiable signature first: a forged code costs no database work. A genuine code of
  // another event fails here too, so only then is the database asked which case it is.
  auto key = co_await key_of(event.org_id);
  const bool genuine_here = key && verify_ticket_code(*parsed, event_id, key->public_key);
  std::string ticket_id = parsed->ticket_id;
  CheckInResult result =
      co_await repo_.check_in(std::move(ticket_id), code, event_id, genuine_here);
  switch (result.outcome) {
    case CheckIn::kCheckedIn:
      check_ins_.with({"ok"}).inc();
      co_return std::move(result.ticket_json);
    case CheckIn::kAlreadyCheckedIn:
      check_ins_.with({"already"}).inc();
      throw ApiError(
          ErrorKind::kConflict, "ALREADY_CHECKED_IN",
          "Ticket already checked in at " + result.checked_in_at,
          {{"ALREADY_CHECKED_IN", "code", "first checked in at " + result.checked_in_at}});
    case CheckIn::kWrongEvent:
      check_ins_.with({"wrong_event"}).inc();
      throw ApiError(ErrorKind::kUnprocessable, "TICKET_WRONG_EVENT",
                     "The ticket is for another event",
                     {{"TICKET_WRONG_EVENT", "code", "this ticket does not admit to this event"}});
    case CheckIn::kNotIssued:
      check_ins_.with({"not_issued"}).inc();
      throw ApiError(ErrorKind::kUnprocessable, "TICKET_NOT_VALID", "The ticket is not valid",
                     {{"TICKET_NOT_VALID", "code", "the ticket is " + result.status}});
    case CheckIn::kNotFound:
      break;
  }
  check_ins_.with({"not_found"}).inc();
  throw ticket_not_found();
}

asio::awaitable<std::optional<PublicKey>> Service::public_key(std::string org_id) {
  auto key = co_await key_of(org_id);
  if (!key) co_return std::nullopt;
  auto stored = co_await repo_.find_key(org_id);
  if (!stored) co_return std::nullopt;
  co_return PublicKey{org_id, stored->key_id, key->public_key, stored->created_at};
}

}  // namespace ticketd::tickets
