#!/usr/bin/env bash
# flask-backend REST benchmark (not a test): one server, the same loopback load for
#   (a) a bare Flask route (/healthz) on the same app and server,
#   (b) GET /api/v1/auth/me with a JWT, (c) GET /api/v1/users?per_page=50,
#   (d) POST /api/v1/auth/login (bcrypt cost 12; reported separately).
# Uses wrk (installed from Debian when missing and we are root).
# Knobs: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
#        BENCH_DB (sqlite | postgresql | mysql with DB_* env), BENCH_PORT (18480).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
py=${PY:-$root/.venv/bin/python}

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[bench] installing wrk (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    }
  else
    echo "error: wrk is required (apt-get install wrk)" >&2
    exit 1
  fi
fi
exec "$py" "$here/bench.py" "$@"
