#!/bin/sh
# Composes supergraph.graphql (beside this script) from the repository's proto files.
# The endpoints are not baked in (they stay `{env.PILOTS_GRPC}` etc. and are read when the
# gateway starts), so the output is the same whatever ports the platform got.
# AXV_PROTO_DIR may point at another proto root (default: ../../../proto from here).
set -eu
cd "$(dirname "$0")"
exec node node_modules/@graphql-mesh/compose-cli/esm/bin.js "$@"
