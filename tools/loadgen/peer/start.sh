#!/bin/sh
# Starts the peer gateway: ./start.sh HOST PORT
# Needs PILOTS_GRPC, VOUCHERS_GRPC, ONBOARDING_GRPC and OUTCOMES_GRPC (host:port, no scheme).
# GraphQL is served at http://HOST:PORT/graphql; it is ready when GET /readiness answers 200
# (it also logs "Listening on http://HOST:PORT"). The process is this script's own pid (exec).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 HOST PORT" >&2; exit 2; }
cd "$(dirname "$0")"
for v in PILOTS_GRPC VOUCHERS_GRPC ONBOARDING_GRPC OUTCOMES_GRPC; do
  eval "val=\${$v:-}"
  [ -n "$val" ] || { echo "$0: $v is not set (host:port of that gRPC service)" >&2; exit 2; }
done
[ -f node_modules/@graphql-hive/gateway/dist/bin.js ] || { echo "$0: run 'npm ci' in $(pwd) first" >&2; exit 2; }
[ -f supergraph.graphql ] || ./compose.sh
exec node node_modules/@graphql-hive/gateway/dist/bin.js supergraph supergraph.graphql \
  --host "$1" --port "$2"
