#!/usr/bin/env bash
# Checks contrib/policygate.service the way systemd reads it, on a copy
# whose ExecStart points at a real binary (verify fails on a missing one):
# systemd-analyze verify, then the offline security review, which fails
# above an exposure of 2.0 (0 is best, 10 worst; the unit scores 1.2).
#
#   contrib/verify-service.sh path/to/policygate [unit]
set -euo pipefail
bin=$(realpath "${1:?usage: verify-service.sh BINARY [UNIT]}")
unit=${2:-$(dirname "$0")/policygate.service}
[ -x "$bin" ] || { echo "verify-service: $bin is not an executable" >&2; exit 1; }

# The example env file in the unit's header comment (#   NAME=value). An
# EnvironmentFile has no trailing comments: systemd keeps a "# ..." after a
# value as part of it, and the server would refuse the setting.
examples=$(sed -n 's/^#   \([A-Za-z_][A-Za-z0-9_]*=.*\)$/\1/p' "$unit")
[ -n "$examples" ] || { echo "verify-service: no example settings (#   NAME=value) in $unit" >&2; exit 1; }
if trailing=$(grep -E '[[:space:]]#' <<<"$examples"); then
  echo "verify-service: example settings with a trailing comment, which systemd would keep in the value:" >&2
  echo "$trailing" >&2
  exit 1
fi
echo "example settings: $(wc -l <<<"$examples") lines, no trailing comment"

command -v systemd-analyze >/dev/null || { echo "verify-service: systemd-analyze not installed (apt-get install systemd)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/policygate-unit.XXXXXX")
trap 'rm -rf "$dir"' EXIT
copy=$dir/policygate.service
sed "s|^ExecStart=/usr/local/bin/policygate\b|ExecStart=$bin|" "$unit" >"$copy"
grep -q "^ExecStart=$bin" "$copy" || { echo "verify-service: no ExecStart=/usr/local/bin/policygate line in $unit" >&2; exit 1; }

# verify prints problems and exits non-zero on errors; warnings about the
# host's own units would not name ours, so they are filtered out.
out=$(systemd-analyze verify "$copy" 2>&1) || { echo "$out"; exit 1; }
if grep -F "policygate.service" <<<"$out"; then
  echo "verify-service: systemd-analyze verify complains about the unit" >&2; exit 1
fi
echo "systemd-analyze verify: ok"
# --threshold counts in tenths of the printed level: 20 is 2.0.
report=$(systemd-analyze security --offline=true --threshold=20 "$copy") || {
  echo "$report"; echo "verify-service: exposure above 2.0" >&2; exit 1
}
tail -1 <<<"$report"
