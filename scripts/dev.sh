#!/usr/bin/env bash
# `make dev`: the trio with PostgreSQL through docker-compose.dev.yml.
#   scripts/dev.sh            build and start (foreground; Ctrl-C stops)
#   scripts/dev.sh down -v    any other arguments go to `docker compose` as they are
# Needs a running Docker engine with the compose plugin; without one it says so and
# exits 1 (use `make run` for the same trio on loopback with SQLite).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
compose_file=$root/docker-compose.dev.yml

if ! command -v docker >/dev/null 2>&1; then
  echo "error: docker is not installed; 'make dev' needs Docker with the compose plugin." >&2
  echo "       'make run' starts the same services on 127.0.0.1 with SQLite instead." >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "error: no Docker engine answers (docker info failed); start it and retry." >&2
  echo "       'make run' starts the same services on 127.0.0.1 with SQLite instead." >&2
  exit 1
fi
if ! docker compose version >/dev/null 2>&1; then
  echo "error: the docker compose plugin is missing; install docker-compose-plugin." >&2
  exit 1
fi

if [ $# -eq 0 ]; then
  set -- up --build
  echo "==> web UI http://127.0.0.1:3000  API http://127.0.0.1:8080/api/v1 (Ctrl-C stops)"
fi
exec docker compose --project-directory "$root" -f "$compose_file" "$@"
