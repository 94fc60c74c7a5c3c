#!/usr/bin/env bash
# The Kubernetes base and the Helm chart ship the policy as files of their
# own (kustomize and Helm read nothing outside their folder): copies of the
# folders of policies/ that the binary embeds (policies.go's go:embed line),
# and of the policy's Rego tests in policies_test/ (as tests/). A test of a
# helper module that lives in policies_test itself (X_test.rego beside
# X.rego, such as a reference matcher) tests no policy and stays out. This
# script makes the copies; with --check it only compares them and fails on
# any difference (.ci/deploy runs that). policies_test/deploy_copies_test.go
# makes the same comparison in `go test ./...` and runs this script to check
# that both build the same copy: change them together.
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
embedded=$(sed -n 's|^//go:embed ||p' policies/policies.go)
[ -n "$embedded" ] || { echo "sync-policy: no //go:embed line in policies/policies.go" >&2; exit 1; }
# shellcheck disable=SC2086 # the embedded folders, one word each
(cd policies && find $embedded -type f \( -name '*.rego' -o -name '*.json' \) ! -name '*_test.rego' -exec cp --parents {} "$src" \;)
mkdir -p "$src/tests"
for t in policies_test/*_test.rego; do
  [ -e "${t%_test.rego}.rego" ] && continue # tests a helper of the test folder, not the policy
  cp "$t" "$src/tests/"
done

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
