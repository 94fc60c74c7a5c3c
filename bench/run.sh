#!/usr/bin/env bash
# Reproduces policygate's load comparison (docs/performance.md): builds
# policygate and the two baselines, drives them in turn with wrk on
# 127.0.0.1 and prints the ratio table. Flags go to cmd/compare, e.g.
#   bench/run.sh -duration 30s -rounds 3
# Installs wrk from Debian's packages when it is missing (needs root).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    echo "run.sh: wrk is missing; install it (Debian: apt-get install wrk)" >&2
    exit 1
  fi
fi
exec go run ./cmd/compare "$@"
