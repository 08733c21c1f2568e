#!/usr/bin/env bash
# Bundles siding's own modules behind dist/cli.js (packages stay external), one chunk per
# command. `siding init` runs on every pod start: loading ~25 separate ES modules cost
# about 30 ms of its ~140 ms on 2 cores; the bundle loads in one read (BENCHMARKS.md).
# tsc has already type-checked and written dist/; this replaces dist/cli.js only.
# Packages stay external on purpose: koffi (siding proxy's getsockopt) is a native module
# whose prebuilt binary is loaded from node_modules at run time and cannot be bundled.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/chunks
npx --no-install esbuild src/cli.ts --bundle --splitting --format=esm --platform=node --target=node24 \
  --packages=external --outdir=dist --chunk-names=chunks/[name]-[hash] --sourcemap --log-level=warning
