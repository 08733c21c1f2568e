#!/usr/bin/env bash
# End-to-end suite, in two rounds against the real test environment
# (scripts/kube-testenv.sh), each brought down again whatever happens:
#   1. the control plane with siding's webhook as a process: test/e2e/*.test.ts;
#   2. `up --node`, one real node with siding installed from its image:
#      test/e2e/node/*.test.ts, then test/e2e/teardown/ brings it down and checks that
#      nothing is left on the machine.
# The tests run inside the control plane's network namespace (kube-testenv.sh exec),
# where the API server listens. E2E_ROUNDS=api or E2E_ROUNDS=node runs one round only.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${E2E_ROUNDS:-api node}
missing=""
node_bin=$(bash scripts/install-node.sh --check 2>/dev/null | tail -n 1) || missing="Node 24"
bash scripts/build-kube.sh --check >/dev/null 2>&1 || missing+="${missing:+, }the Kubernetes binaries"
[[ $(id -u) -eq 0 ]] || missing+="${missing:+, }root"
if [[ $rounds == *node* ]]; then
  for t in containerd runc buildah; do
    command -v "$t" >/dev/null || missing+="${missing:+, }$t"
  done
fi
if [[ -n $missing ]]; then
  reason="e2e needs $missing (run scripts/setup.sh as root)"
  if [[ "${CI:-}" == "true" ]]; then echo "e2e: FAIL: $reason" >&2; exit 1; fi
  printf '\n!!! SKIPPING e2e SUITE: %s\n!!! (under CI=true this is a failure)\n\n' "$reason" >&2
  exit 0
fi
export PATH="$node_bin:$PATH"
testenv() { bash scripts/kube-testenv.sh "$@"; }
trap 'testenv down >/dev/null 2>&1 || true' EXIT
status=0

if [[ $rounds == *api* ]]; then
  SIDING_E2E_KUBECONFIG=$(testenv up | tail -n 1)
  export SIDING_E2E_KUBECONFIG
  testenv exec node --import tsx --test --test-concurrency=1 test/e2e/*.test.ts || status=1
  testenv down >/dev/null
fi

if [[ $rounds == *node* ]]; then
  # The images come from the current sources (a no-op when nothing changed).
  bash scripts/build-image.sh >/dev/null
  before=$(mktemp)
  node --import tsx test/e2e/helpers/host-state.ts >"$before"
  start=$SECONDS
  SIDING_E2E_KUBECONFIG=$(testenv up --node | tail -n 1)
  echo "e2e: node up and siding installed in $((SECONDS - start))s" >&2
  export SIDING_E2E_KUBECONFIG
  testenv exec node --import tsx --test --test-concurrency=1 test/e2e/node/*.test.ts || status=1
  # Runs `down` itself, from the machine's namespaces, and compares with $before.
  SIDING_E2E_HOST_BEFORE=$before node --import tsx --test test/e2e/teardown/*.test.ts || status=1
  rm -f "$before"
fi
exit "$status"
