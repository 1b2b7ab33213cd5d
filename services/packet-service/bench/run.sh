#!/usr/bin/env bash
# `make bench-packet`: packet-service throughput benchmark (not a test). Generates its
# 200,000-frame capture deterministically into .data/bench/ (git-ignored) and prints
# packets/s for (a) dpkt + Python rules, (b) in process, (c) gRPC Ingest, (d) UDP ingest,
# (e) the pcap ingest command, with ratios to (a), plus flow-table memory per flow.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
py=${PY:-$root/.venv/bin/python}
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$here/bench/packet_bench.py" --data-dir "$root/.data/bench" "$@"
