#!/usr/bin/env bash
# Builds the Kubernetes binaries of the test environment (scripts/kube-testenv.sh) from
# the k8s.io/kubernetes release pinned in test/kube/go.mod, once per version, into a
# cache outside the clone:
#   ${SIDING_CACHE:-/var/cache/siding}/kube/<version>/bin/
# the control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) and
# the node (kubelet, kube-proxy). Prints that bin directory as its last line. A cold
# build takes several minutes and a few GB of memory on 2 cores; later calls return at
# once. When some binaries are cached already, only the missing ones are built.
#
# Usage: scripts/build-kube.sh [--check]
#   --check  build nothing; exit 0 and print the bin directory when the binaries
#            are cached, exit 1 otherwise.
set -euo pipefail
check_only=false
case ${1:-} in
  '') ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/test/kube"

version=$(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    if r["Path"] == "k8s.io/kubernetes":
        print(r["Version"])')
if [[ ! $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "build-kube: test/kube/go.mod does not pin a k8s.io/kubernetes release (got '${version}')" >&2
  exit 1
fi
major=1 minor=${BASH_REMATCH[1]}

cache=${SIDING_CACHE:-/var/cache/siding}
bin="$cache/kube/$version/bin"
tools=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)

complete() {
  local t
  for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || return 1; done
}

if complete; then
  echo "$bin"
  exit 0
fi
if $check_only; then
  echo "build-kube: ${tools[*]} ${version} not built yet (${bin})" >&2
  exit 1
fi

missing=()
for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || missing+=("$t"); done

mkdir -p "$cache/kube/$version"
# Build into a scratch directory, then move the results into place: an interrupted
# build never leaves a half-filled bin/ (or a half-written binary) that a later run would
# trust. A bin/ that exists already (an older checkout cached fewer tools, and other
# clones may be running them) only gains files, each renamed in whole.
scratch=$(mktemp -d "$cache/kube/$version/bin.partial.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"

# The same version stamps the Kubernetes release build sets (hack/lib/version.sh),
# so /version and `kubectl version` report the release instead of v0.0.0-master.
ldflags=(-s -w)
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=(
    "-X ${pkg}.gitVersion=${version}"
    "-X ${pkg}.gitMajor=${major}"
    "-X ${pkg}.gitMinor=${minor}"
    "-X ${pkg}.gitTreeState=clean"
  )
done

echo "build-kube: building ${missing[*]} ${version} into ${bin} (several minutes when cold)" >&2
start=$SECONDS
pkgs=()
for t in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$t"); done
CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=readonly" \
  go build -ldflags="${ldflags[*]}" -o "$scratch/" "${pkgs[@]}"
# A new bin/ appears whole; an existing one (maybe made meanwhile by another build)
# gains the missing files one rename each, its other files never touched.
if [[ -d $bin ]] || ! mv -T "$scratch" "$bin" 2>/dev/null; then
  for t in "${missing[@]}"; do mv -f "$scratch/$t" "$bin/$t"; done
  rm -rf "$scratch"
fi
trap - EXIT
complete || { echo "build-kube: ${bin} is still incomplete" >&2; exit 1; }
echo "build-kube: built in $((SECONDS - start))s" >&2
echo "$bin"
