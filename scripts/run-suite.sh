#!/usr/bin/env bash
# Run one pytest suite and record what ran.
#   scripts/run-suite.sh NAME DIR [pytest args...]
# pytest's exit code 5 ("no tests collected") is turned into a failure: every suite we
# call is expected to run tests. A line per suite lands in artifacts/test-summary.tsv.
set -uo pipefail
name=$1; dir=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$root/.venv/bin/python}
mkdir -p "$root/artifacts/junit"
xml=$root/artifacts/junit/$name.xml
rm -f "$xml"
echo
echo "==================== suite: $name ($dir) ===================="
(cd "$root/$dir" && "$py" -m pytest -q -rs --junitxml="$xml" "$@")
rc=$?
if [ $rc -eq 5 ]; then
  echo "ERROR: suite '$name' collected no tests; it is expected to run some" >&2
  rc=1
fi
counts=$("$py" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0\t0\t0\t0"); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
tot = lambda k: sum(int(s.get(k, 0)) for s in suites)
print(f"{tot('tests')}\t{tot('failures') + tot('errors')}\t{tot('skipped')}\t{sum(float(s.get('time', 0)) for s in suites):.0f}")
PY
)
printf '%s\t%s\t%s\n' "$name" "$rc" "$counts" >>"$root/artifacts/test-summary.tsv"
exit $rc
