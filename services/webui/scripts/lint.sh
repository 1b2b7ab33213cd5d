#!/usr/bin/env bash
# The web UI's static checks (scripts/test.sh runs them as the webui-lint suite; `npm run lint`):
#   1. ESLint (eslint.config.js): TypeScript + React hooks rules, import boundaries between the
#      feature folders, Node rules for server/, e2e/ and scripts/. No warning and no
#      suppressed finding allowed.
#   2. API types drift: src/lib/api-schema.gen.ts must be what flask-backend's OpenAPI document
#      gives today (scripts/api-types.sh into a temp file, then compared).
#   3. tsc -b (type check of src/ and vite.config.ts).
# Every check runs even when an earlier one fails; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() { echo; echo "[webui-lint] $*"; }

step "1/3 eslint . --max-warnings 0"
if npx --no-install eslint . --max-warnings 0; then
  echo "[webui-lint] eslint: clean"
else
  failed+=(eslint)
fi

step "2/3 API types: regenerate from the backend's OpenAPI document and compare with src/lib/api-schema.gen.ts"
fresh=$(mktemp --suffix=.ts)
trap 'rm -f "$fresh"' EXIT
if ! scripts/api-types.sh --output "$fresh"; then
  echo "ERROR: could not generate the API types (scripts/api-types.sh failed; see above)" >&2
  failed+=(api-types)
elif ! cmp -s "$fresh" src/lib/api-schema.gen.ts; then
  diff -u src/lib/api-schema.gen.ts "$fresh" | head -40 >&2
  echo "ERROR: API types are stale: run make api-types / npm run api-types (services/webui) and commit src/lib/api-schema.gen.ts" >&2
  failed+=(api-types)
else
  echo "[webui-lint] api types: up to date"
fi

step "3/3 tsc -b"
if npx --no-install tsc -b; then
  echo "[webui-lint] tsc: clean"
else
  failed+=(tsc)
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "[webui-lint] FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "[webui-lint] all checks passed: eslint, api types, tsc"
