#!/usr/bin/env bash
# Web UI benchmark (not a test): JS sizes of the build and Lighthouse scores for the
# login page and the dashboard, with Debian's Chromium and the real trio on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
node e2e/bench.js
