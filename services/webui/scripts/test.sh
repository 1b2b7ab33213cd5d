#!/usr/bin/env bash
# The web UI's suites: Vitest (unit, component and server tests), then the browser run
# (Playwright driving Debian's Chromium against the real trio, axe-core on every page).
#   scripts/test.sh [unit] [lint] [e2e]   (default: all three, in that order)
# Appends one line per suite to <repo>/artifacts/test-summary.tsv:
#   name  rc  tests  failed  skipped  seconds
# and exits non-zero when a suite fails or runs no test.
set -uo pipefail
webui=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$webui/../.." && pwd)
summary=$root/artifacts/test-summary.tsv
mkdir -p "$root/artifacts/webui" "$webui/test-results"
cd "$webui" || exit 1

"$webui/scripts/install.sh" || { echo "error: web UI install/build failed" >&2; exit 1; }

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$summary"; }
parts=" ${*:-unit lint e2e} "
wanted() { [[ $parts == *" $1 "* ]]; }
unit_rc=0; lint_rc=0; rc=0

# ---------------------------------------------------------------- unit
if wanted unit; then
echo
echo "==================== suite: webui-unit (services/webui, vitest) ===================="
t0=$(date +%s)
rm -f test-results/unit.xml
npx --no-install vitest run
rc=$?
secs=$(( $(date +%s) - t0 ))
read -r tests failed skipped < <(node -e '
  const fs = require("fs");
  let x = "";
  try { x = fs.readFileSync("test-results/unit.xml", "utf8"); } catch {}
  const m = x.match(/<testsuites[^>]*>/);
  const attr = (n) => Number((m && m[0].match(new RegExp(n + "=\"(\\d+)\"")) || [0, 0])[1]);
  const skipped = (x.match(/<skipped\s*\/?>/g) || []).length;
  console.log(attr("tests"), attr("failures") + attr("errors"), skipped);
')
if [ "$rc" -eq 0 ] && [ "${tests:-0}" -eq 0 ]; then echo "ERROR: webui-unit ran no tests" >&2; rc=1; fi
record webui-unit "$rc" "${tests:-0}" "${failed:-0}" "${skipped:-0}" "$secs"
unit_rc=$rc
fi

# ---------------------------------------------------------------- lint
if wanted lint; then
echo
echo "==================== suite: webui-lint (services/webui, eslint + API type drift) ===================="
t0=$(date +%s)
"$webui/scripts/lint.sh"
lint_rc=$?
secs=$(( $(date +%s) - t0 ))
# one "test" per check the script runs: ESLint over the sources, generated API types up to date
record webui-lint "$lint_rc" 2 "$([ "$lint_rc" -eq 0 ] && echo 0 || echo 1)" 0 "$secs"
fi

# ---------------------------------------------------------------- e2e
if wanted e2e; then
echo
echo "==================== suite: webui-e2e (services/webui, playwright + axe-core) ===================="
chrome=${CHROME_PATH:-/usr/bin/chromium}
if [ ! -x "$chrome" ] && [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ]; then
  echo "[webui-e2e] $chrome missing: installing Debian's chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
    echo "error: apt-get install chromium failed" >&2
fi
t0=$(date +%s)
rm -f test-results/e2e.json
if [ -x "$chrome" ]; then
  # playwright.config.js: one worker, the trio started once by e2e/global-setup.js; its
  # reporter (e2e/reporter.js) writes test-results/e2e.json, read below.
  CHROME_PATH=$chrome npx --no-install playwright test
  rc=$?
else
  echo "ERROR: no Chromium at $chrome (install the 'chromium' package, or run with CI=true as root)" >&2
  rc=1
fi
secs=$(( $(date +%s) - t0 ))
read -r tests failed skipped < <(node -e '
  let r = { tests: 0, failed: 0, skipped: 0 };
  try { r = JSON.parse(require("fs").readFileSync("test-results/e2e.json", "utf8")); } catch {}
  console.log(r.tests, r.failed, r.skipped);
')
if [ "$rc" -eq 0 ] && [ "${tests:-0}" -eq 0 ]; then echo "ERROR: webui-e2e ran no tests" >&2; rc=1; fi
record webui-e2e "$rc" "${tests:-0}" "${failed:-0}" "${skipped:-0}" "$secs"
echo "[webui] screenshots, axe results and failure screenshots: artifacts/webui/"
fi

[ "$unit_rc" -eq 0 ] && [ "$lint_rc" -eq 0 ] && [ "$rc" -eq 0 ]
