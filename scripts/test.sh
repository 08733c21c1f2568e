#!/usr/bin/env bash
# Every check and every test suite, in the order a failure is cheapest to find.
# Integration suites need root and iptables; e2e needs the Kubernetes binaries
# (scripts/setup.sh builds them). Each skips loudly without them unless CI=true.
# Everything runs on Node 24, whichever node called `npm test`: the one on PATH when it
# is recent enough, else the one scripts/setup.sh installed.
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=$(bash scripts/install-node.sh --check | tail -n 1) ||
  { echo "test: Node 24 is not installed; run scripts/setup.sh (or scripts/install-node.sh) first" >&2; exit 1; }
export PATH="$node_bin:$PATH"
npm run --silent build
npm run --silent typecheck
npm run --silent lint
npm run --silent test:unit
npm run --silent test:integration
npm run --silent test:e2e
