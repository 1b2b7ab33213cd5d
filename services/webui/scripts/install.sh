#!/usr/bin/env bash
# Install the web UI's npm packages and build it, each only when its inputs changed:
# `npm ci` when package-lock.json differs from the last install, `vite build` when any
# source differs from the last build. A second run prints nothing and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "error: the web UI needs Node.js 20.19+ and npm (none found on PATH)" >&2
  exit 1
fi

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

install_stamp=node_modules/.rookery-install-stamp
lock_hash=$(hash_of package-lock.json)
if [ ! -f "$install_stamp" ] || [ "$(cat "$install_stamp")" != "$lock_hash" ]; then
  echo "[webui] npm ci (package-lock.json changed)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_hash" >"$install_stamp"
fi

build_stamp=node_modules/.rookery-build-stamp
build_inputs=$(find src public index.html vite.config.ts tsconfig.json package-lock.json -type f ! -name '*.test.*' | LC_ALL=C sort)
# shellcheck disable=SC2086
src_hash=$(hash_of $build_inputs)
if [ ! -f dist/index.html ] || [ ! -f "$build_stamp" ] || [ "$(cat "$build_stamp")" != "$src_hash" ]; then
  echo "[webui] type-check and vite build (sources changed)"
  npx --no-install tsc -b
  npx --no-install vite build --logLevel warn
  echo "$src_hash" >"$build_stamp"
fi
