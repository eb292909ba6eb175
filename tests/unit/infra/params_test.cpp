#include "infra/pg/params.hpp"

#include <gtest/gtest.h>

namespace ticketd::infra::pg {
namespace {

TEST(Params, ANulByteIsRefusedInsteadOfCuttingTheValueShort) {
  try {
    Params p(std::string("A\0x", 3));
    ADD_FAILURE() << "a NUL reached libpq";
  } catch (const core::InfraError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnprocessable);
    EXPECT_EQ(e.code(), "NUL_IN_TEXT");
  }
  EXPECT_THROW(Params(std::string_view("\0", 1)), core::InfraError);
  EXPECT_THROW(Params(std::optional<std::string>(std::string("x\0", 2))), core::InfraError);
  Params ok("plain", std::string("text"), 42, std::nullopt);
  EXPECT_EQ(ok.size(), 4u);
}

}  // namespace
}  // namespace ticketd::infra::pg
