#!/usr/bin/env bash
# Generate Python gRPC code from proto/ (the single source of truth) into every Python
# service's package, under <package>/gen/. Generated files are never edited by hand.
# The -I<virtual>=<dir> mapping makes protoc write package-qualified imports
# (from packet_service.gen import packet_pb2), so no sys.path tricks are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
case $PY in /*) ;; *) PY=$(pwd)/$PY ;; esac
root=$(pwd)
protos=$(cd proto && ls *.proto)
for target in services/flask-backend:rookery_backend services/packet-service:packet_service; do
  dir=${target%%:*}; pkg=${target##*:}
  [ -d "$dir/$pkg" ] || continue
  out="$dir/$pkg/gen"
  rm -rf "$out"; mkdir -p "$out"
  files=()
  for p in $protos; do files+=("$pkg/gen/$p"); done
  (cd "$dir" && "$PY" -m grpc_tools.protoc -I"$pkg/gen=$root/proto" \
      --python_out=. --grpc_python_out=. --pyi_out=. "${files[@]}")
  touch "$out/__init__.py"
  echo "==> generated $(ls "$out" | grep -c '_pb2') modules into $out"
done
