#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl from the
# k8s.io/kubernetes release pinned in test/kube/go.mod, once per version, into a
# cache outside the clone:
#   ${SIDING_CACHE:-/var/cache/siding}/kube/<version>/bin/
# Prints that bin directory as its last line. A cold build takes several minutes
# and a few GB of memory on 2 cores; later calls return at once.
# The binaries are for the test environment only (scripts/kube-testenv.sh).
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
tools=(kube-apiserver kube-controller-manager kubectl)

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

mkdir -p "$cache/kube/$version"
# Build into a scratch directory and rename it into place, so an interrupted
# build never leaves a half-filled bin/ that a later run would trust.
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

echo "build-kube: building ${tools[*]} ${version} into ${bin} (several minutes when cold)" >&2
start=$SECONDS
CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -mod=readonly" \
  go build -ldflags="${ldflags[*]}" -o "$scratch/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
rm -rf "$bin"
mv "$scratch" "$bin"
trap - EXIT
echo "build-kube: built in $((SECONDS - start))s" >&2
echo "$bin"
