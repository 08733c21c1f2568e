#!/usr/bin/env bash
# in-cgroup.sh CGROUP CMD...: moves itself into CGROUP (a path relative to each cgroup
# hierarchy's root, in every hierarchy that has it), then execs CMD. Used by
# scripts/kube-testenv.sh so that every process of the test node, and everything they
# start, can be found and removed by cgroup.
set -euo pipefail
cgroup=$1; shift
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [[ -f $h$cgroup/cgroup.procs ]] && echo $$ >"$h$cgroup/cgroup.procs"
done
exec "$@"
