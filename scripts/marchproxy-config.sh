#!/usr/bin/env bash
# Regenerate config/marchproxy/*.json from the service catalogue (make marchproxy-config).
#   scripts/marchproxy-config.sh [--check]   --check only reports drift (exit 1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3
PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m rookery_ops.marchproxy_config "$@"
