#!/usr/bin/env bash
# End-to-end suite: brings up the real kube-apiserver test environment, runs
# test/e2e against it, and always brings it down again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! node_bin=$(bash scripts/install-node.sh --check 2>/dev/null | tail -n 1) ||
  ! bash scripts/build-kube.sh --check >/dev/null 2>&1 || [[ $(id -u) -ne 0 ]]; then
  reason="e2e needs root, Node 24 and the Kubernetes binaries (run scripts/setup.sh as root)"
  if [[ "${CI:-}" == "true" ]]; then echo "e2e: FAIL: $reason" >&2; exit 1; fi
  printf '\n!!! SKIPPING e2e SUITE: %s\n!!! (under CI=true this is a failure)\n\n' "$reason" >&2
  exit 0
fi
export PATH="$node_bin:$PATH"
trap 'bash scripts/kube-testenv.sh down >/dev/null 2>&1 || true' EXIT
KUBECONFIG_PATH=$(bash scripts/kube-testenv.sh up | tail -n 1)
export SIDING_E2E_KUBECONFIG="$KUBECONFIG_PATH"
node --import tsx --test --test-concurrency=1 test/e2e/*.test.ts
