#!/usr/bin/env bash
# Regenerates test/kube/go.mod and go.sum: the wrapper module that builds
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the node's
# kubelet and kube-proxy from k8s.io/kubernetes.
#
# Usage: scripts/kube-gomod.sh [vX.Y.Z]   (default: the version test/kube pins now)
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...) at
# v0.0.0 and resolves them through `replace => ./staging/...`, which only works
# inside its own tree. A consuming module must replace every one of them with the
# published v0.Y.Z matching vX.Y.Z. The list is read from the release's own go.mod
# (never hard-coded) so a new release that adds a staging module still builds.
# The result is committed; re-run this only to move to another release, then run
# scripts/build-kube.sh.
set -euo pipefail
cd "$(dirname "$0")/../test/kube"

version=${1:-}
if [[ -z $version ]]; then
  version=$(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    if r["Path"] == "k8s.io/kubernetes":
        print(r["Version"])')
fi
if [[ ! $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "kube-gomod: expected a release like v1.34.10, got '${version}'" >&2
  exit 2
fi
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

upstream_mod=$(go mod download -json "k8s.io/kubernetes@${version}" | python3 -c '
import json, sys
info = json.load(sys.stdin)
if "Error" in info:
    sys.exit("kube-gomod: " + info["Error"])
print(info["GoMod"])')

# Staging modules are exactly the replace targets under ./staging/src/.
mapfile -t staging < <(go mod edit -json "$upstream_mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/src/"):
        print(r["Old"]["Path"])')
if ((${#staging[@]} == 0)); then
  echo "kube-gomod: no staging replaces found in ${upstream_mod}" >&2
  exit 1
fi
go_directive=$(go mod edit -json "$upstream_mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')

rm -f go.mod go.sum
go mod init siding/test/kube >/dev/null 2>&1
edits=(-go="$go_directive" -require="k8s.io/kubernetes@${version}")
for m in "${staging[@]}"; do
  edits+=(-replace="${m}=${m}@${staging_version}")
done
for t in cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl cmd/kubelet cmd/kube-proxy; do
  edits+=(-tool="k8s.io/kubernetes/${t}")
done
go mod edit "${edits[@]}"
go mod tidy
echo "test/kube now builds k8s.io/kubernetes@${version} (${#staging[@]} staging replaces at ${staging_version})"
