#!/usr/bin/env bash
# Bundles siding's own modules behind dist/cli.js (packages stay external), one chunk per
# command. `siding init` runs on every pod start: loading its separate ES modules was a
# sizeable part of its start-up; the bundle loads in one read (BENCHMARKS.md has the figures).
# tsc has already type-checked and written dist/; this replaces dist/cli.js only.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/chunks
npx --no-install esbuild src/cli.ts --bundle --splitting --format=esm --platform=node --target=node20 \
  --packages=external --outdir=dist --chunk-names=chunks/[name]-[hash] --sourcemap --log-level=warning
