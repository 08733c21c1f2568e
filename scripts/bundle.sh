#!/usr/bin/env bash
# Bundles siding's own modules behind dist/cli.js (packages stay external), one chunk per
# command. `siding init` runs on every pod start: loading its separate ES modules was a
# sizeable part of its start-up; the bundle loads in one read (BENCHMARKS.md has the figures).
# Then `siding init` alone, with its packages, as one CommonJS file (dist/chunks/init.cjs):
# dist/siding.cjs (the `siding` executable) runs it without starting the ES module loader.
# tsc has already type-checked and written dist/; this replaces dist/cli.js and adds the rest.
# Packages stay external in the CLI bundle on purpose: koffi (siding proxy's getsockopt) is a
# native module whose prebuilt binary is loaded from node_modules at run time and cannot be
# bundled. The init bundle needs no native module.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/chunks
npx --no-install esbuild src/cli.ts --bundle --splitting --format=esm --platform=node --target=node24 \
  --packages=external --outdir=dist --chunk-names=chunks/[name]-[hash] --sourcemap --log-level=warning
# import.meta.url (probe.ts is found next to it) becomes this file's URL in the CommonJS bundle.
npx --no-install esbuild src/cli/init-main.ts --bundle --format=cjs --platform=node --target=node24 \
  --outfile=dist/chunks/init.cjs --sourcemap --log-level=warning \
  --define:import.meta.url=__import_meta_url \
  "--banner:js=var __import_meta_url = require('node:url').pathToFileURL(__filename).href;"
chmod 0755 dist/siding.cjs
