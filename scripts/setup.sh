#!/usr/bin/env bash
# Installs everything the full test suite needs on a fresh Debian machine, idempotently:
# system packages (as root), Node.js 24 when the machine's node is older
# (scripts/install-node.sh: from the npm registry into a cache outside the clone), npm
# dependencies, and the Go-built test binaries (built from Go modules once, cached outside
# the clone by version): the Kubernetes binaries for the e2e suite and istio-iptables for
# the differential suite of `siding init`. `npm test` (scripts/test.sh) runs on that Node.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in iptables:iptables ip:iproute2 etcd:etcd-server conntrack:conntrack nft:nftables \
            setpriv:util-linux nsenter:util-linux flock:util-linux openssl:openssl python3:python3 \
            curl:curl containerd:containerd runc:runc buildah:buildah debootstrap:debootstrap gcc:gcc; do
  bin=${pair%%:*} pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if ! command -v iptables-legacy >/dev/null 2>&1 || ! command -v iptables-nft >/dev/null 2>&1; then
  need_pkgs+=(iptables)
fi
# The e2e node's CNI plugins (bridge, host-local, loopback, portmap), and a static libc
# for the pause image.
[[ -x /usr/lib/cni/bridge ]] || need_pkgs+=(containernetworking-plugins)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a || -f /usr/lib/libc.a ]] || need_pkgs+=(libc6-dev)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing ${need_pkgs[*]}; run as root to install them (suites that need them will skip)" >&2
  else
    echo "setup: apt-get install ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
fi

node_bin=$(bash scripts/install-node.sh | tail -n 1)
export PATH="$node_bin:$PATH"
echo "setup: npm ci (node $(node --version) in $node_bin)"
npm ci --no-audit --no-fund --loglevel=error

if command -v go >/dev/null 2>&1; then
  bash scripts/build-peers.sh
  bash scripts/build-kube.sh
else
  echo "setup: no Go toolchain; the e2e and differential suites will skip (fails under CI=true)" >&2
fi

# The images the e2e node runs (a local Debian + Node 24 base, siding's image from the
# Dockerfile, the pause image), cached outside the clone; e2e.sh rebuilds siding's image
# when the sources changed.
if [[ $(id -u) -eq 0 ]] && command -v buildah >/dev/null 2>&1 && command -v go >/dev/null 2>&1; then
  bash scripts/build-image.sh
else
  echo "setup: not root or no buildah/Go; the e2e node's images are not built (e2e fails under CI=true)" >&2
fi
