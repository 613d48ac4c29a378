#!/usr/bin/env bash
# Checks a running docker compose stack the way a user would meet it, from the host:
#
#   docker compose --profile demo up -d --build && deploy/smoke-test.sh
#
# - every container of the project is running, and healthy where it has a health check;
# - the gateway is ready (every service SERVING) and answers GraphQL on the published port;
#   with the demo data (--profile demo), the programme's published 2021-2024 figures come
#   back to an anonymous caller and the demo manager can log in;
# - Prometheus scrapes every component's /metrics and has loaded the alert rules.
# Exit status 0 when all hold. AXV_URL / PROMETHEUS_URL change where it looks; ENGINE=podman
# for podman.
set -euo pipefail

engine=${ENGINE:-docker}
project=${COMPOSE_PROJECT_NAME:-axv}
gateway=${AXV_URL:-http://localhost:8080}
prometheus=${PROMETHEUS_URL:-http://localhost:9090}
failures=0
pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }

graphql() { # QUERY [TOKEN]
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "authorization: Bearer $2")
  curl -fsS "$gateway/graphql" -H 'content-type: application/json' "${auth[@]}" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1")"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# 1. Containers.
for _ in $(seq 1 60); do
  starting=$("$engine" ps --filter "label=com.docker.compose.project=$project" \
    --format '{{.Names}} {{.Status}}' | grep -c -E 'starting' || true)
  [ "$starting" = 0 ] && break
  sleep 3
done
while read -r name status; do
  case "$status" in
    *unhealthy*) fail "container $name: $status" ;;
    Up*) pass "container $name: $status" ;;
    *) fail "container $name: $status" ;;
  esac
done < <("$engine" ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Status}}')

# 2. The gateway.
# /readyz is 200 with every service SERVING, 503 with the one that is not.
ready=""
for _ in $(seq 1 60); do
  ready=$(curl -sS "$gateway/readyz" 2>/dev/null || true)
  [ -n "$ready" ] && echo "$ready" | json 'all(v == "SERVING" for v in d.values()) and len(d) == 6' | grep -q True && break
  sleep 2
done
if [ -n "$ready" ] && echo "$ready" | json 'all(v == "SERVING" for v in d.values()) and len(d) == 6' | grep -q True; then
  pass "gateway ready: $ready"
else
  fail "gateway not ready: ${ready:-no answer from $gateway/readyz}"
fi
stats=$(graphql '{ programStats(filter: {from: "2021-01-01", to: "2024-12-31"}) { companies outcomes { modelsDeveloped modelsImproved modelsCommercialized revenueKrw patentsFiled patentsRegistered papers newHires } } }' || true)
if [ -z "$stats" ] || ! echo "$stats" | json 'd["data"]["programStats"]["companies"]' >/dev/null 2>&1; then
  fail "programStats: ${stats:-no answer}"
elif [ "$(echo "$stats" | json 'd["data"]["programStats"]["companies"]')" = 0 ]; then
  pass "programStats answers (no demo data: run with --profile demo for the figures)"
else
  figures=$(echo "$stats" | json 'sorted(d["data"]["programStats"]["outcomes"].items())')
  expected="[('modelsCommercialized', 328), ('modelsDeveloped', 1367), ('modelsImproved', 724), ('newHires', 2173), ('papers', 611), ('patentsFiled', 617), ('patentsRegistered', 171), ('revenueKrw', 99600000000)]"
  if [ "$figures" = "$expected" ]; then pass "demo figures 2021-2024: $figures"; else fail "demo figures: $figures"; fi
  login=$(graphql 'mutation { login(email: "pm@demo.axv.kr", password: "gwangju-demo-2026") { accessToken user { role } } }' || true)
  token=$(echo "$login" | json 'd["data"]["login"]["accessToken"]' 2>/dev/null || true)
  role=$(graphql '{ me { user { role } } }' "$token" 2>/dev/null | json 'd["data"]["me"]["user"]["role"]' 2>/dev/null || true)
  if [ "$role" = PROGRAM_MANAGER ]; then pass "demo manager logs in (role $role)"; else fail "demo login: $login"; fi
fi
# Metrics are for Prometheus (which the checks below read), not the public port.
status=$(curl -s -o /dev/null -w '%{http_code}' "$gateway/metrics" || true)
if [ "$status" = "404" ]; then
  pass "gateway /metrics not on the public port"
else
  fail "gateway /metrics answers $status on the public port"
fi

# 3. Prometheus.
targets=$(curl -fsS "$prometheus/api/v1/targets" 2>/dev/null || true)
if [ -z "$targets" ]; then
  fail "Prometheus: no answer from $prometheus"
else
  for _ in $(seq 1 20); do
    down=$(echo "$targets" | json '[t["labels"].get("component", t["labels"]["job"]) for t in d["data"]["activeTargets"] if t["health"] != "up"]')
    [ "$down" = "[]" ] && break
    sleep 3
    targets=$(curl -fsS "$prometheus/api/v1/targets")
  done
  components=$(echo "$targets" | json 'sorted(t["labels"]["component"] for t in d["data"]["activeTargets"] if "component" in t["labels"])')
  if [ "$down" = "[]" ]; then pass "Prometheus scrapes $components"; else fail "Prometheus targets down: $down"; fi
  rules=$(curl -fsS "$prometheus/api/v1/rules" | json 'sum(len(g["rules"]) for g in d["data"]["groups"])')
  if [ "$rules" -gt 0 ]; then pass "Prometheus loaded $rules alert rules"; else fail "Prometheus has no alert rules"; fi
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "the stack works"
