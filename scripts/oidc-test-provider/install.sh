#!/usr/bin/env bash
# Install the test OpenID Provider's npm packages: `npm ci` only when package-lock.json
# differs from the last install, so a second run prints nothing and does nothing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  echo "error: the test OpenID Provider needs Node.js 20+ and npm (none found on PATH)" >&2
  exit 1
fi

stamp=node_modules/.rookery-install-stamp
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "[oidc-test-provider] npm ci (package-lock.json changed)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_hash" >"$stamp"
fi
