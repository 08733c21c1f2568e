#!/usr/bin/env bash
# Runs `siding cni-agent ARGS...` as it runs in its pod, for the benchmark's memory reading:
# in-cluster credentials (KUBERNETES_SERVICE_HOST and the service account files), here a
# closed loopback port and throw-away files on a tmpfs over /run in a private mount
# namespace (nothing is mounted or written outside it). Usage: cni-agent-incluster.sh NODE CLI ARGS...
set -euo pipefail
if [[ ${SIDING_BENCH_UNSHARED:-} != 1 ]]; then
  export SIDING_BENCH_UNSHARED=1
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi
node=$1 cli=$2; shift 2
mount -t tmpfs -o size=1m siding-bench-run /run
sa=/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$sa"
printf 'bench\n' >"$sa/token"
: >"$sa/ca.crt"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=9
exec "$node" "$cli" cni-agent "$@"
