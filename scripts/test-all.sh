#!/usr/bin/env bash
# Every test suite of the repository, in one run; prints a table of what ran.
# DBS=all (the default when CI=true) starts real PostgreSQL and MariaDB servers first.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PY=$root/.venv/bin/python
mkdir -p artifacts
: >artifacts/test-summary.tsv
DBS=${DBS:-$([ "${CI:-}" = true ] && echo all || echo sqlite)}

if [ "$DBS" = all ]; then
  scripts/test-dbs.sh start || { echo "error: could not start the test databases" >&2; exit 1; }
  set -a; . .data/test-dbs.env; set +a
  # This run's own database on both servers: a second run on the machine (or a developer's
  # manual one on rookery_test) cannot empty its tables under it.
  export ROOKERY_TEST_DB_NAME=rookery_t$(date +%s)_$$
  scripts/test-dbs.sh create >/dev/null || { echo "error: could not create $ROOKERY_TEST_DB_NAME" >&2; exit 1; }
  export TEST_PG_NAME=$ROOKERY_TEST_DB_NAME TEST_MYSQL_NAME=$ROOKERY_TEST_DB_NAME
  trap 'scripts/test-dbs.sh drop' EXIT
  # CI must not silently lose a backend: every one is required, and a server that did not
  # start makes its suites fail instead of skip.
  export ROOKERY_TEST_DBS=sqlite,postgresql,mysql
  export ROOKERY_REQUIRE_DBS=$ROOKERY_TEST_DBS
else
  export ROOKERY_TEST_DBS=sqlite
  echo "[test-dbs] PostgreSQL and MariaDB suites NOT run (use 'make test DBS=all' or CI=true)"
fi

if [ "${CI:-}" = true ]; then
  # CI runs as root and must run the network-namespace (live capture) test.
  export ROOKERY_REQUIRE_NETNS=1
  if ! command -v ip >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing iproute2 (Debian) for the network-namespace tests"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
  fi
  # promtool (metrics hygiene) and a real Prometheus (the trio's /stats/series comparison)
  # come from Debian's prometheus package; the fixtures install it too, this does it once.
  if ! command -v prometheus >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing prometheus (Debian) for promtool and the Prometheus-backed series test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
  fi
fi

failed=0
run() { "$@" || failed=1; }
# name  directory  [pytest args]  -- each service's suites
run scripts/run-suite.sh lint-and-scripts scripts/tests
run scripts/run-suite.sh common services/common/tests
if [ "$DBS" = all ]; then
  # One pytest process per database backend, at once, and beside them the suites that start
  # no server of their own (packet-service's, the web UI's unit tests and lint): the
  # PostgreSQL and MariaDB shards spend much of their time waiting on their servers. The
  # others' output is kept and printed after the SQLite shard's.
  mkdir -p artifacts/logs
  side_pids=()
  side_logs=()
  for shard in postgresql mysql; do
    ROOKERY_TEST_SHARD=$shard scripts/run-suite.sh "flask-backend-$shard" services/flask-backend/tests \
      >"artifacts/logs/flask-backend-$shard.log" 2>&1 &
    side_pids+=("$!"); side_logs+=("artifacts/logs/flask-backend-$shard.log")
  done
  {
    scripts/run-suite.sh packet-service services/packet-service/tests; packet_rc=$?
    webui_rc=0
    if [ -x services/webui/scripts/test.sh ]; then services/webui/scripts/test.sh unit lint; webui_rc=$?; fi
    [ "$packet_rc" = 0 ] && [ "$webui_rc" = 0 ]
  } >artifacts/logs/side-suites.log 2>&1 &
  side_pids+=("$!"); side_logs+=(artifacts/logs/side-suites.log)
  ROOKERY_TEST_SHARD=sqlite run scripts/run-suite.sh flask-backend-sqlite services/flask-backend/tests
  for i in "${!side_pids[@]}"; do
    wait "${side_pids[$i]}" || failed=1
    cat "${side_logs[$i]}"
  done
  [ -x services/webui/scripts/test.sh ] && run services/webui/scripts/test.sh e2e
else
  run scripts/run-suite.sh flask-backend services/flask-backend/tests
  run scripts/run-suite.sh packet-service services/packet-service/tests
  [ -x services/webui/scripts/test.sh ] && run services/webui/scripts/test.sh
fi
[ -d scripts/trio_tests ] && run scripts/run-suite.sh trio scripts/trio_tests

echo
echo "==================== what ran ===================="
printf '%-26s %-6s %6s %7s %8s %6s\n' suite result tests failed skipped secs
while IFS=$'\t' read -r name rc tests fails skips secs; do
  res=$([ "$rc" = 0 ] && echo ok || echo FAIL)
  printf '%-26s %-6s %6s %7s %8s %6s\n' "$name" "$res" "$tests" "$fails" "$skips" "$secs"
done <artifacts/test-summary.tsv
echo "database backends: $ROOKERY_TEST_DBS"
exit $failed
