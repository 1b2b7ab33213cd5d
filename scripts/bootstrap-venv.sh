#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install every Python service's dependencies, the
# shared package services/common (rookery_common) among them, editable.
# Idempotent: a stamp named after the hash of the requirement files means a second
# call installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
REQS=(services/flask-backend/requirements-dev.txt
      services/packet-service/requirements-dev.txt
      scripts/requirements-dev.txt)

pick_python() {
  for py in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  py=$(pick_python) || { echo "error: Python 3.11 or newer is required (set PYTHON=...)" >&2; exit 1; }
  echo "==> creating $VENV with $($py --version)"
  if ! "$py" -m venv "$VENV" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> installing python3-venv (Debian)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$VENV"; "$py" -m venv "$VENV"
    else
      echo "error: '$py -m venv' failed; install python3-venv" >&2; exit 1
    fi
  fi
fi

existing=()
for r in "${REQS[@]}"; do [ -f "$r" ] && existing+=("$r"); done
# The stamp covers the requirement files and everything they include with -r.
hash=$(cat "${existing[@]}" services/*/requirements.txt services/common/pyproject.toml 2>/dev/null \
  | sha256sum | cut -c1-16)
stamp="$VENV/.deps-$hash"
if [ -f "$stamp" ]; then
  echo "==> Python dependencies up to date ($VENV)"
  exit 0
fi
echo "==> installing Python dependencies into $VENV"
# This machine's pip configuration lists local indexes that may not hold every project;
# pip warns about each of them, which only buries real errors.
quiet_pip() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
quiet_pip install --quiet --upgrade pip
args=()
for r in "${existing[@]}"; do args+=(-r "$r"); done
quiet_pip install --quiet "${args[@]}"
# The services' requirements install services/common (rookery_common) as a copy, which is
# what an image wants; here it becomes editable so a change to it needs no reinstall.
quiet_pip install --quiet --no-deps -e services/common
rm -f "$VENV"/.deps-*
touch "$stamp"
echo "==> Python dependencies installed"
