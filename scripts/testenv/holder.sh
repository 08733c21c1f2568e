#!/usr/bin/env bash
# holder.sh CGROUP NODE_DIR [FILE TARGET]...: run by scripts/kube-testenv.sh inside the
# test node's network namespace and a new private mount namespace, which this process
# holds open for containerd, the kubelet and kube-proxy to join.
# It joins CGROUP, gives the node its own /run, /var/log and /var/lib/cni (bound from
# NODE_DIR), binds each FILE over the sysctl TARGET, says it is ready, then waits for
# SIGTERM. Nothing here is visible outside the mount namespace, and it all goes with it.
set -euo pipefail
cgroup=$1 node_dir=$2; shift 2
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [[ -f $h$cgroup/cgroup.procs ]] && echo $$ >"$h$cgroup/cgroup.procs"
done
# A sysfs of the node's network namespace (its interfaces under /sys/class/net), with the
# machine's cgroup hierarchies carried over (the kubelet and runc need them).
keep=$(mktemp -d "$node_dir/run/cgroup.XXXXXX")
mount --rbind /sys/fs/cgroup "$keep"
mount -t sysfs siding-node-sys /sys
mount --rbind "$keep" /sys/fs/cgroup
umount -l "$keep"
rmdir "$keep"
mount -t tmpfs -o mode=0755,size=64m siding-node-run /run
mount --bind "$node_dir/log" /var/log
[[ -d /var/lib/cni ]] || mount -t tmpfs -o mode=0755,size=1m siding-node-lib /var/lib
mkdir -p /var/lib/cni
mount --bind "$node_dir/var-lib-cni" /var/lib/cni
while (($# >= 2)); do
  mount --bind "$1" "/proc/sys/$2"
  shift 2
done
touch "$node_dir/run/holder-ready"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $! || true; done
