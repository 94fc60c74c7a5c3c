#!/usr/bin/env bash
# The Kubernetes base and the Helm chart ship the policy as files of their
# own (kustomize and Helm read nothing outside their folder): copies of
# policies/ and of the Rego tests in policies_test/ (as tests/). This script
# makes the copies; with --check it only compares them and fails on any
# difference (.ci/deploy runs that).
#
#   deploy/sync-policy.sh           # after editing policies/ or policies_test/
#   deploy/sync-policy.sh --check
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true

targets=(deploy/kubernetes/base/policy deploy/helm/policygate/files/policy)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
(cd policies && find authz system -type f \( -name '*.rego' -o -name '*.json' \) ! -name '*_test.rego' -exec cp --parents {} "$src" \;)
mkdir -p "$src/tests"
cp policies_test/*_test.rego "$src/tests/"

status=0
for t in "${targets[@]}"; do
  if $check; then
    diff -r "$src" "$t" >/dev/null 2>&1 || {
      echo "sync-policy: $t differs from policies/ and policies_test/ (run deploy/sync-policy.sh):" >&2
      diff -r "$src" "$t" >&2 || true
      status=1
    }
  else
    rm -rf "$t" && mkdir -p "$t" && cp -r "$src"/. "$t"/
    echo "sync-policy: wrote $t"
  fi
done
exit $status
