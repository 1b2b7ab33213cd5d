#!/usr/bin/env bash
# Bump the repository's .version (Major.Minor.Patch[.epoch]).
#   scripts/version/update-version.sh build   0.1.0[.e] -> 0.1.0.<now epoch>  (a build stamp)
#   scripts/version/update-version.sh patch   0.1.0[.e] -> 0.1.1
#   scripts/version/update-version.sh minor   0.1.3[.e] -> 0.2.0
#   scripts/version/update-version.sh major   0.4.1[.e] -> 1.0.0
# VERSION_FILE chooses another file (tests use a copy); SOURCE_DATE_EPOCH fixes "now".
# Prints the new version; exit 2 on a bad argument, 1 on an unreadable or malformed file.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
file=${VERSION_FILE:-$root/.version}

usage() { echo "usage: $0 build|patch|minor|major" >&2; exit 2; }
[ $# -eq 1 ] || usage
part=$1

if [ ! -f "$file" ]; then
  echo "error: $file does not exist" >&2; exit 1
fi
current=$(tr -d '[:space:]' <"$file")
if [[ ! $current =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)(\.([0-9]+))?$ ]]; then
  echo "error: $file holds '$current', expected Major.Minor.Patch[.epoch]" >&2; exit 1
fi
major=$((10#${BASH_REMATCH[1]})); minor=$((10#${BASH_REMATCH[2]})); patch=$((10#${BASH_REMATCH[3]}))

case $part in
  build) next="$major.$minor.$patch.${SOURCE_DATE_EPOCH:-$(date +%s)}" ;;
  patch) next="$major.$minor.$((patch + 1))" ;;
  minor) next="$major.$((minor + 1)).0" ;;
  major) next="$((major + 1)).0.0" ;;
  *) usage ;;
esac
if [[ ! $next =~ ^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$ ]]; then
  echo "error: SOURCE_DATE_EPOCH must be a number" >&2; exit 1
fi
printf '%s\n' "$next" >"$file"
echo "$next"
