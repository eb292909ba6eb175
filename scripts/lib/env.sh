# shellcheck shell=bash disable=SC2034
# Shared helpers for ticketd's scripts. Source it; it defines functions and a few variables
# and has no side effects beyond that (it does not change options such as set -e).
#
#   TICKETD_ROOT   absolute path of the repository (resolved from this file's location)
#   TICKETD_LOCAL  $TICKETD_ROOT/.local, where every local service keeps its data and logs
#   ticketd_load_dotenv [file]   import KEY=VALUE lines of <repo>/.env (default) into the
#                                environment, never overriding a variable that is already set
#   ticketd_url_host_port URL DEFAULT_PORT   set TICKETD_URL_HOST and TICKETD_URL_PORT from a URL
#                                (postgres://, redis://, host:port, or libpq "host=... port=...")
#   ticketd_is_local_host HOST   true for 127.0.0.1, localhost, ::1 or an empty host

TICKETD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
TICKETD_LOCAL="$TICKETD_ROOT/.local"

# The connection strings the local services answer to (scripts/services starts them).
TICKETD_DEFAULT_DATABASE_URL="postgres://ticketd:ticketd@127.0.0.1:5555/ticketd"
TICKETD_DEFAULT_TEST_DATABASE_URL="postgres://ticketd:ticketd@127.0.0.1:5555/ticketd_test"
TICKETD_DEFAULT_REDIS_URL="redis://127.0.0.1:6379/0"
TICKETD_DEFAULT_KAFKA_BROKERS="127.0.0.1:9092"

# What a benchmark of capacity serves with (`env $TICKETD_CAPACITY_ENV ... ticketd serve`): one
# load generator is one address and few users, so no rate limits and no cap on connections per
# address; no shedding and the normal pool wait, so the figure is what the machine does. The overload phase of bench/reserve and
# bench/flashsale measure shedding (as deployed).
TICKETD_CAPACITY_ENV="RATE_LIMIT_ENABLED=false HTTP_MAX_IN_FLIGHT_READS=0 HTTP_MAX_IN_FLIGHT_WRITES=0 \
HTTP_MAX_IN_FLIGHT_AUTH=0 HTTP_MAX_IN_FLIGHT_RESERVE=0 HTTP_MAX_IN_FLIGHT_QUEUE=0 HTTP_MAX_IN_FLIGHT_PAYMENTS=0 \
HTTP_MAX_IN_FLIGHT_WEBHOOK=0 DATABASE_POOL_HOT_TIMEOUT_MS=2000 HTTP_MAX_CONNECTIONS_PER_IP=100000"

ticketd_load_dotenv() {
  local file="${1:-$TICKETD_ROOT/.env}" line key value
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    # skip blanks and comments; accept an optional leading "export "
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line#export }"
    [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    # "KEY=   # comment" is empty (as ticketd's own parser reads it); "KEY=#x" is "#x"
    [[ "$value" =~ ^[[:space:]]+# ]] && value=""
    value="${value#"${value%%[![:space:]]*}"}"
    if [[ "$value" =~ ^\"(.*)\"[[:space:]]*$ ]] || [[ "$value" =~ ^\'(.*)\'[[:space:]]*$ ]]; then
      value="${BASH_REMATCH[1]}"
    else
      value="${value%%[[:space:]]#*}"                 # trailing " # comment"
      value="${value%"${value##*[![:space:]]}"}"      # trailing blanks
    fi
    # the process environment wins over .env
    if [ -z "${!key+x}" ]; then
      export "$key=$value"
    fi
  done <"$file"
}

ticketd_url_host_port() {
  local url="$1" default_port="$2" host="" port="" rest
  if [[ "$url" != *"://"* && "$url" != *=* ]]; then
    url="tcp://$url"                  # bare host:port (KAFKA_BROKERS entries)
  fi
  if [[ "$url" == *"://"* ]]; then
    rest="${url#*://}"
    rest="${rest%%[/?#]*}"            # authority only
    rest="${rest##*@}"                # drop user:password@
    if [[ "$rest" =~ ^\[([^]]*)\](:([0-9]*))?$ ]]; then
      host="${BASH_REMATCH[1]}"
      port="${BASH_REMATCH[3]}"
    elif [[ "$rest" == *:* ]]; then
      host="${rest%%:*}"
      port="${rest##*:}"
    else
      host="$rest"
    fi
    # libpq also takes ?host=...&port=... in the query string
    if [[ "$url" =~ [?\&]host=([^\&]*) ]] && [ -z "$host" ]; then host="${BASH_REMATCH[1]}"; fi
    if [[ "$url" =~ [?\&]port=([0-9]+) ]] && [ -z "$port" ]; then port="${BASH_REMATCH[1]}"; fi
  else
    # libpq keyword/value form: "host=127.0.0.1 port=5555 dbname=ticketd"
    if [[ "$url" =~ (^|[[:space:]])host=([^[:space:]]*) ]]; then host="${BASH_REMATCH[2]}"; fi
    if [[ "$url" =~ (^|[[:space:]])port=([0-9]+) ]]; then port="${BASH_REMATCH[2]}"; fi
  fi
  TICKETD_URL_HOST="$host"
  TICKETD_URL_PORT="${port:-$default_port}"
}

ticketd_is_local_host() {
  case "${1:-}" in
    "" | 127.0.0.1 | localhost | ::1 | /*) return 0 ;;  # "/..." = a unix-socket directory
    *) return 1 ;;
  esac
}
