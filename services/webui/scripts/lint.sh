#!/usr/bin/env bash
# The web UI's static checks (run by scripts/test.sh as the webui-lint suite).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[webui-lint] tsc --noEmit"
npx --no-install tsc -b
