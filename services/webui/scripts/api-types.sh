#!/usr/bin/env bash
# Generates the web UI's API types from flask-backend's OpenAPI document:
#   python -m rookery_backend.api.openapi_dump (the document GET /api/v1/openapi.json serves,
#   built without a server) → openapi-typescript → src/lib/api-schema.gen.ts
#
#   scripts/api-types.sh              rewrite src/lib/api-schema.gen.ts
#   scripts/api-types.sh --output F   write F instead (lint.sh compares it with the committed file)
#
# PY picks the Python that has flask-backend's dependencies (default: <repo>/.venv/bin/python).
set -euo pipefail
webui=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$webui/../.." && pwd)
py=${PY:-$root/.venv/bin/python}
out=$webui/src/lib/api-schema.gen.ts
if [ "${1:-}" = "--output" ] && [ -n "${2:-}" ]; then
  out=$2
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--output FILE]" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$root/services/flask-backend" && "$py" -m rookery_backend.api.openapi_dump --output "$work/openapi.json")
# --default-non-nullable false: a field with a default may be left out of a request body, so
# it stays optional (`?`) rather than required. --empty-objects-unknown: a free-form object
# (error details, list meta) is Record<string, unknown>, not Record<string, never>.
(cd "$webui" && npx --no-install openapi-typescript "$work/openapi.json" \
  --default-non-nullable false --empty-objects-unknown --output "$work/schema.ts" >/dev/null)

{
  echo "// GENERATED FILE: do not edit. The types of flask-backend's REST API (/api/v1), made by"
  echo "// openapi-typescript from the OpenAPI document the backend serves at /api/v1/openapi.json."
  echo "// Regenerate after an API change: npm run api-types (scripts/api-types.sh) in services/webui."
  echo "// scripts/lint.sh fails while this file differs from what the backend's document gives."
  echo
  cat "$work/schema.ts"
} >"$work/api-schema.gen.ts"
mv "$work/api-schema.gen.ts" "$out"
