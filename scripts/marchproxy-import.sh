#!/usr/bin/env bash
# Publish Rookery's services (config/marchproxy/services.json) to a MarchProxy cluster.
#   MARCHPROXY_API=http://marchproxy:8000 MARCHPROXY_USER=admin MARCHPROXY_PASSWORD=... \
#     scripts/marchproxy-import.sh [--dry-run] [--services FILE] [--config FILE]
# Exit codes: 0 ok, 1 usage or invalid file, 2 authentication failed, 3 unknown cluster,
# 4 a service could not be created/updated, 5 MarchProxy unreachable or answered oddly.
# Gateway answers printed on errors have passwords, tokens and keys redacted.
# Details: docs/OPERATIONS.md. Runs with the repository's .venv (make venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$root/.venv/bin/python}
if [ ! -x "$py" ]; then
  echo "error: $py not found; run 'make venv' first (or set PY)" >&2
  exit 1
fi
PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m rookery_ops.importer "$@"
