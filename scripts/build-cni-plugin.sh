#!/usr/bin/env bash
# Builds siding's CNI plugin (cni/plugin: a small static Go program written with the CNI
# project's own library, github.com/containernetworking/cni) into a cache outside the
# clone, keyed by its sources, the Go version and siding's version:
#   ${SIDING_CACHE:-/var/cache/siding}/cni-plugin/<key>/siding
# Prints that file's path as its last line. Go's build and module caches are Go's own
# (outside the clone too). A cached build returns at once.
#
# Usage: scripts/build-cni-plugin.sh [--check]
#   --check  build nothing; print the path and exit 0 when the binary for the current
#            sources is cached, exit 1 otherwise.
set -euo pipefail
check_only=false
case ${1:-} in
  '') ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
src="$repo/cni/plugin"
command -v go >/dev/null || { echo "build-cni-plugin: Go is not installed" >&2; exit 1; }
version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "$repo/package.json" | head -n 1)
[[ -n $version ]] || { echo "build-cni-plugin: no version in package.json" >&2; exit 1; }
key=$(
  cd "$src"
  {
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum
    go version
    echo "$version"
  } | sha256sum | cut -c1-16
)
cache=${SIDING_CACHE:-/var/cache/siding}
out="$cache/cni-plugin/$key"
if [[ -x $out/siding ]]; then
  echo "$out/siding"
  exit 0
fi
if $check_only; then
  echo "build-cni-plugin: not built for these sources (run scripts/build-cni-plugin.sh)" >&2
  exit 1
fi
mkdir -p "$cache/cni-plugin"
tmp=$(mktemp -d "$cache/cni-plugin/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Static (no cgo): the plugin runs on the node, outside any image, whatever libc it has.
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.sidingVersion=$version" -o "$tmp/siding" .)
# Renamed into place whole: a concurrent or interrupted build never leaves half a binary.
mkdir -p "$tmp/out" && mv "$tmp/siding" "$tmp/out/siding"
if ! mv -T "$tmp/out" "$out" 2>/dev/null; then
  [[ -x $out/siding ]] || { echo "build-cni-plugin: could not move the build into $out" >&2; exit 1; }
fi
echo "build-cni-plugin: built $out/siding ($(stat -c %s "$out/siding") bytes)" >&2
echo "$out/siding"
