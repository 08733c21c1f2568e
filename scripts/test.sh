#!/usr/bin/env bash
# Every check and every test suite, in the order a failure is cheapest to find.
# Integration suites need root and iptables; e2e needs the Kubernetes binaries
# (scripts/setup.sh builds them). Each skips loudly without them unless CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
npm run --silent typecheck
npm run --silent lint
npm run --silent test:unit
npm run --silent test:integration
npm run --silent test:e2e
