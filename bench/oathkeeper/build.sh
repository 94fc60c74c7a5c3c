#!/usr/bin/env bash
# Builds Ory Oathkeeper, the forward-auth comparison's peer, from its
# module source and prints the binary's path. Nothing of Oathkeeper is kept
# in this repository: the module is downloaded through the Go module proxy
# at run time (go install is refused for it: its go.mod has replace
# directives), copied to a temporary folder and built there.
#   bench/oathkeeper/build.sh [OUT]    (default: $XDG_CACHE_HOME or ~/.cache)
set -euo pipefail
version=v0.40.9
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/policygate-bench/oathkeeper-$version}
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Outside any module, so no go.mod or go.sum of this repository changes.
dir=$(cd "$tmp" && go mod download -json "github.com/ory/oathkeeper@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "build.sh: go mod download found no module folder" >&2; exit 1; }
cp -r "$dir/." "$tmp"
chmod -R u+w "$tmp"
mkdir -p "$(dirname "$out")"
(cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath -o "$out.tmp" .)
mv "$out.tmp" "$out"
echo "$out"
