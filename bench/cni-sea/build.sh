#!/usr/bin/env bash
# Builds the Node.js single-executable candidate of siding's CNI plugin (bench/cni-sea/
# plugin.ts) into a cache outside the clone, for the benchmark only; prints its path.
#   esbuild (one CommonJS file) -> node --experimental-sea-config (the blob)
#   -> a copy of this Node binary -> postject (the blob injected)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SIDING_CACHE:-/var/cache/siding}
key=$({ sha256sum "$repo/bench/cni-sea/plugin.ts" "$0"; node --version; } | sha256sum | cut -c1-16)
out="$cache/cni-sea/$key"
if [[ -x $out/siding-sea ]]; then echo "$out/siding-sea"; exit 0; fi
mkdir -p "$cache/cni-sea"
tmp=$(mktemp -d "$cache/cni-sea/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$repo"
npx --no-install esbuild bench/cni-sea/plugin.ts --bundle --platform=node --target=node24 --format=cjs --outfile="$tmp/plugin.cjs" --log-level=warning
printf '{"main":"%s","output":"%s","disableExperimentalSEAWarning":true,"useCodeCache":true}\n' "$tmp/plugin.cjs" "$tmp/blob" >"$tmp/sea.json"
node --experimental-sea-config "$tmp/sea.json" >/dev/null
cp "$(command -v node)" "$tmp/siding-sea"
chmod u+w "$tmp/siding-sea"
npx --no-install postject "$tmp/siding-sea" NODE_SEA_BLOB "$tmp/blob" --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
mkdir -p "$tmp/out" && mv "$tmp/siding-sea" "$tmp/out/"
mv -T "$tmp/out" "$out" 2>/dev/null || [[ -x $out/siding-sea ]]
echo "$out/siding-sea"
