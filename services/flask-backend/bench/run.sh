#!/usr/bin/env bash
# flask-backend REST benchmark (not a test): the same loopback load (wrk) for
#   (a) a bare Flask JSON route on hypercorn with as many worker processes (bare_app.py),
#   (b) GET /api/v1/auth/me with a JWT, (b') the same with an API key,
#   (c) GET /api/v1/users?per_page=50,
#   (d) POST /api/v1/auth/login (bcrypt cost 12; reported separately),
#   (e) a team's rule set (GET /api/v1/rulesets/{id}/rules) read by a global admin and
#   (e') by a team maintainer: what resolving team access costs,
# on SQLite and, when scripts/test-dbs.sh's PostgreSQL answers, on PostgreSQL; first, in
# process, what licence gating costs a gated route (gating_bench.py; BENCH_GATING=0 skips it).
# Uses wrk (installed from Debian when missing and we are root).
# Knobs: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
#        BENCH_DB (all | sqlite | postgresql), BENCH_WORKERS (default: the usable cores),
#        BENCH_PORT (18480).
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
if [ "${BENCH_GATING:-1}" != 0 ]; then
  "$py" "$here/gating_bench.py"
fi
exec "$py" "$here/bench.py" "$@"
