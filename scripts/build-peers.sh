#!/usr/bin/env bash
# Builds istio-iptables from the istio.io/istio version pinned in test/peers/go.mod,
# once per version, into a cache outside the clone:
#   ${SIDING_CACHE:-/var/cache/siding}/peers/<version>/bin/istio-iptables
# Prints that bin directory as its last line. The differential suite
# (test/integration/init-differential.test.ts) and the init bench run it next to
# `siding init`. A cold build takes a few minutes on 2 cores; later calls return at once.
#
# Usage: scripts/build-peers.sh [--check]
#   --check  build nothing; exit 0 and print the bin directory when the binary is
#            cached, exit 1 otherwise.
set -euo pipefail
check_only=false
case ${1:-} in
  '') ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/test/peers"

# The version is read from go.mod without running go when --check can answer alone.
version=$(sed -n -E 's/^(require)?[[:space:]]*istio\.io\/istio[[:space:]]+(v[^[:space:]]+).*/\2/p' go.mod | head -n 1)
if [[ ! $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "build-peers: test/peers/go.mod does not pin istio.io/istio (got '${version}')" >&2
  exit 1
fi

cache=${SIDING_CACHE:-/var/cache/siding}
bin="$cache/peers/$version/bin"
if [[ -x "$bin/istio-iptables" ]]; then
  echo "$bin"
  exit 0
fi
if $check_only; then
  echo "build-peers: istio-iptables ${version} not built yet (${bin}); run scripts/build-peers.sh" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-peers: no Go toolchain on PATH" >&2
  exit 1
fi

mkdir -p "$cache/peers/$version"
# Build into a scratch directory and rename it into place, so an interrupted
# build never leaves a half-filled bin/ that a later run would trust.
scratch=$(mktemp -d "$cache/peers/$version/bin.partial.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"

echo "build-peers: building istio-iptables ${version} into ${bin} (a few minutes when cold)" >&2
start=$SECONDS
CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=readonly" \
  go build -ldflags="-s -w" -o "$scratch/istio-iptables" .
rm -rf "$bin"
mv "$scratch" "$bin"
trap - EXIT
echo "build-peers: built in $((SECONDS - start))s" >&2
echo "$bin"
