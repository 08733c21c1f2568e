# shellcheck shell=bash
# The test environment's node, sourced by scripts/kube-testenv.sh (which defines the
# settings, logging, process and PKI helpers used here).
#
# One real Kubernetes node: containerd (Debian's, runc), kubelet and kube-proxy, in the
# node's network namespace and in a private mount namespace of its own, so that nothing
# the node does reaches the machine's network namespace, iptables, sysctls or mounts:
# - a holder process owns the mount namespace; containerd, the kubelet and kube-proxy
#   join it (and the netns) with nsenter. /run, /var/log and /var/lib/cni are private
#   there (containerd 1.6 keeps shim sockets under /run/containerd whatever its config
#   says; the kubelet writes /var/log/pods and /var/log/containers; libcni caches results
#   in /var/lib/cni), and the global sysctl files the kubelet writes at start are bound
#   to ordinary files;
# - every process of the node, and every container, lives under one cgroup
#   ($node_cgroup in each v1 hierarchy): `down` kills exactly what is in it, then removes it;
# - pods sit on a bridge in the node's netns, with no default route and no masquerade:
#   routes to the Service range and the control plane only. kube-proxy masquerades
#   Service traffic inside the node's netns (masqueradeAll), which is what lets a pod
#   reach a Service whose endpoint is on the same bridge without br_netfilter.

node_dir="$state/node"
containerd_root=${SIDING_TESTENV_CONTAINERD_ROOT:-$node_dir/containerd/root}
containerd_state=${SIDING_TESTENV_CONTAINERD_STATE:-$node_dir/containerd/state}
containerd_socket=${SIDING_TESTENV_CONTAINERD_SOCKET:-$node_dir/containerd.sock}
pod_cidr=${SIDING_TESTENV_POD_CIDR:-10.250.101.0/24}
node_name=${SIDING_TESTENV_NODE_NAME:-siding-node}
node_cgroup=${SIDING_TESTENV_CGROUP:-siding-testenv-$netns}
bridge=sdbr0
cni_bin=${SIDING_CNI_BIN:-/usr/lib/cni}
# The images the node runs, built by scripts/build-image.sh.
siding_image=localhost/siding:e2e
pause_image=localhost/siding-pause:3.10.1
# The kubelet writes these at start (setupKernelTunables); they are global, so the node's
# mount namespace binds each to a file holding the machine's value.
kubelet_sysctls=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

validate_node_settings() {
  local cidr='^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}/(1[6-9]|2[0-4])$'
  [[ $pod_cidr =~ $cidr ]] || die "SIDING_TESTENV_POD_CIDR '$pod_cidr' must be an IPv4 CIDR from /16 to /24"
  [[ $node_name =~ ^[a-z][a-z0-9-]{0,40}$ ]] || die "SIDING_TESTENV_NODE_NAME '$node_name' must be a DNS label"
  [[ $node_cgroup =~ ^[a-z][a-z0-9-]{0,40}$ ]] || die "SIDING_TESTENV_CGROUP '$node_cgroup' must be one lowercase path element"
  local p
  for p in "$containerd_root" "$containerd_state" "$containerd_socket"; do
    [[ $p == /* ]] || die "containerd paths must be absolute, got '$p'"
  done
  ((${#containerd_socket} < 100)) || die "SIDING_TESTENV_CONTAINERD_SOCKET '$containerd_socket' is too long for a unix socket"
}

# The gateway (the bridge's address): the first address of the pod range.
pod_gateway() { local base=${pod_cidr%/*}; echo "${base%.*}.$((${base##*.} + 1))"; }

cgroup_dirs() { # every v1 hierarchy (and the unified one) with our cgroup in it
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d $h$node_cgroup ]] && echo "${h%/}/$node_cgroup"
  done
  [[ -d /sys/fs/cgroup/$node_cgroup && -f /sys/fs/cgroup/cgroup.controllers ]] && echo "/sys/fs/cgroup/$node_cgroup"
  return 0
}

make_node_cgroup() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -f ${h}cgroup.procs ]] || continue
    mkdir -p "$h$node_cgroup/runtime"
    if [[ -f ${h}cpuset.cpus ]]; then
      # A new cpuset cgroup starts empty and takes no task until it has CPUs and memory nodes.
      local d
      for d in "$h$node_cgroup" "$h$node_cgroup/runtime"; do
        cat "${h}cpuset.cpus" >"$d/cpuset.cpus"
        cat "${h}cpuset.mems" >"$d/cpuset.mems"
      done
    fi
  done
}

# Runs "$@" (by exec) inside the node: its netns, the holder's mount namespace and the
# runtime cgroup. The command line keeps the state directory in it, as pid_of requires.
node_exec_prefix() {
  local holder
  holder=$(pid_of node-holder) || die "the node's mount namespace holder is not running"
  printf '%s\0' nsenter "--net=/run/netns/$netns" "--mount=/proc/$holder/ns/mnt" -- \
    bash "$repo/scripts/testenv/in-cgroup.sh" "$node_cgroup/runtime"
}

start_node_bg() { # name cmd...
  local name=$1; shift
  local prefix=()
  mapfile -d '' -t prefix < <(node_exec_prefix)
  start_bg "$name" "${prefix[@]}" "$@"
}

start_node_holder() {
  running node-holder && return 0
  mkdir -p "$node_dir/sysctl" "$node_dir/run" "$node_dir/log" "$node_dir/var-lib-cni"
  local s f binds=()
  for s in "${kubelet_sysctls[@]}"; do
    f="$node_dir/sysctl/${s//\//.}"
    cat "/proc/sys/$s" >"$f"
    binds+=("$f" "$s")
  done
  make_node_cgroup
  # In the node's netns, a private mount namespace in which the node's own /sys, /run,
  # /var/log, /var/lib/cni and sysctl files are mounted (holder.sh), held open.
  start_bg node-holder nsenter "--net=/run/netns/$netns" -- unshare --mount --propagation private -- \
    bash "$repo/scripts/testenv/holder.sh" "$node_cgroup/runtime" "$node_dir" "${binds[@]}"
  wait_for "the node's mount namespace" test -f "$node_dir/run/holder-ready"
}

write_containerd_config() {
  mkdir -p "$containerd_root" "$containerd_state" "$node_dir/cni/net.d" "$node_dir/cni/ipam"
  cat >"$node_dir/containerd.toml" <<EOF
# Written by scripts/kube-testenv.sh for the test node.
version = 2
root = "$containerd_root"
state = "$containerd_state"
# Plugins that would write outside the state dirs or that the node does not use.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$containerd_socket"
[ttrpc]
  address = "$containerd_socket.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # No CAP_SYS_RESOURCE here: without this every sandbox fails to start.
  restrict_oom_score_adj = true
  # Pod netns files live under the state dir, not in the machine's /run/netns.
  netns_mounts_under_state_dir = true
  # kubectl exec/logs/port-forward go through this, reached by the kubelet only.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$node_dir/cni/net.d"
    max_conf_num = 1
EOF
  # Bridge with the gateway address, no default route, no masquerade: routes to the
  # Service range and to the control plane's /30 only (the kubelet and the API server
  # reach pods; pods reach Services and the API server through kube-proxy).
  cat >"$node_dir/cni/net.d/10-siding-testenv.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "siding-testenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$node_dir/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$(pod_gateway)"}]],
        "routes": [{"dst": "$service_cidr"}, {"dst": "$cp_net"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  running containerd && return 0
  write_containerd_config
  # Any pull fails at once on a closed loopback port (the netns has no way out anyway).
  start_node_bg containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    containerd --config "$node_dir/containerd.toml" --log-level warn
  wait_for containerd ctr_node version
}

ctr_node() { ctr --address "$containerd_socket" "$@"; }

import_images() {
  local dir f
  dir=$("$repo/scripts/build-image.sh" --check | tail -n 1) ||
    die "the node's images are not built for these sources: run scripts/build-image.sh"
  for f in pause.oci.tar siding.oci.tar; do
    ctr_node -n k8s.io images import --no-unpack=false "$dir/$f" >/dev/null
  done
  local images
  images=$(ctr_node -n k8s.io images ls -q)
  for f in "$siding_image" "$pause_image"; do
    grep -qx -- "$f" <<<"$images" || die "importing $f into containerd failed"
  done
}

write_node_pki() {
  [[ -f $pki/node-done ]] && return 0
  # The kubelet's identity (Node authorizer and NodeRestriction key on it), its serving
  # certificate (the API server verifies it), the API server's client certificate for
  # the kubelet, kube-proxy's and kube-scheduler's identities.
  issue "$pki/ca" "$pki/kubelet" "/O=system:nodes/CN=system:node:$node_name" "$client_ext"
  issue "$pki/ca" "$pki/kubelet-serving" "/CN=$node_name" "$server_ext
subjectAltName=IP:$ns_ip,DNS:$node_name"
  issue "$pki/ca" "$pki/apiserver-kubelet-client" "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
  issue "$pki/ca" "$pki/kube-proxy" "/CN=system:kube-proxy" "$client_ext"
  issue "$pki/ca" "$pki/kube-scheduler" "/CN=system:kube-scheduler" "$client_ext"
  touch "$pki/node-done"
}

start_kubelet() {
  running kubelet && return 0
  mkdir -p "$node_dir/kubelet" "$node_dir/pod-logs"
  printf 'nameserver 127.0.0.1\n' >"$node_dir/resolv.conf"
  cat >"$node_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ns_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$containerd_socket
cgroupDriver: cgroupfs
cgroupRoot: /$node_cgroup
failCgroupV1: false
failSwapOn: false
# No KUBE-* chains: the kubelet leaves iptables to kube-proxy.
makeIPTablesUtilChains: false
resolvConf: $node_dir/resolv.conf
# Pods resolve through 127.0.0.1 in their own netns (no DNS server runs): names never
# leave the pod, and ClusterFirst pods get no warning event.
clusterDNS: [127.0.0.1]
clusterDomain: cluster.local
podLogsDir: $node_dir/pod-logs
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
# Fast reactions for tests: status and pod sync every few seconds.
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 20s
# The node's images cannot be pulled again: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
shutdownGracePeriod: 0s
kubeAPIQPS: 50
kubeAPIBurst: 100
serializeImagePulls: false
EOF
  write_kubeconfig "$node_dir/kubelet.kubeconfig" "system:node:$node_name" "$pki/kubelet.crt" "$pki/kubelet.key" "$apiserver_url"
  start_node_bg kubelet "$bin/kubelet" \
    --config "$node_dir/kubelet.yaml" \
    --kubeconfig "$node_dir/kubelet.kubeconfig" \
    --root-dir "$node_dir/kubelet" \
    --cert-dir "$node_dir/kubelet/pki" \
    --hostname-override "$node_name" \
    --node-ip "$ns_ip" \
    --v=1
}

start_kube_proxy() {
  running kube-proxy && return 0
  write_kubeconfig "$node_dir/kube-proxy.kubeconfig" system:kube-proxy "$pki/kube-proxy.crt" "$pki/kube-proxy.key" "$apiserver_url"
  cat >"$node_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $node_dir/kube-proxy.kubeconfig}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: $pod_cidr
bindAddress: $ns_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$ns_ip/32"]
iptables:
  # Service traffic leaves the node's netns with the node's address, so replies come
  # back through the node's conntrack even between pods on one bridge.
  masqueradeAll: true
  localhostNodePorts: false
  minSyncPeriod: 0s
  syncPeriod: 30s
# Leave every conntrack setting alone (the table size is global to the machine).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start_node_bg kube-proxy "$bin/kube-proxy" --config "$node_dir/kube-proxy.yaml" --v=1
}

node_ready() {
  [[ $(kc get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# The runtime and its images: independent of the control plane, so `up` runs this while
# the control plane starts (the image import is the slowest step).
prepare_node() {
  local t0=$SECONDS
  validate_node_settings
  start_node_holder
  start_containerd
  import_images
  say "containerd up, images imported ($((SECONDS - t0))s)"
}

join_node() {
  local t0=$SECONDS
  start_kubelet
  start_kube_proxy
  wait_for "node $node_name Ready" node_ready
  say "node $node_name Ready ($((SECONDS - t0))s)"
}

# Stops the node and removes every trace: all processes of the node's cgroup (the
# runtime, the kubelet, kube-proxy, shims, every container), then the cgroup itself.
# Mounts made in the node's private mount namespace vanish with its last process.
stop_node() {
  local name d pid pids i
  # No graceful stop: the node and its pods are thrown away whole (SIGKILL to the cgroup
  # below), and a kubelet that outlived containerd would only log errors meanwhile.
  for ((i = 0; i < 50; i++)); do
    pids=()
    while IFS= read -r d; do
      while IFS= read -r pid; do [[ -n $pid ]] && pids+=("$pid"); done <"$d"
    done < <(cgroup_dirs | while IFS= read -r c; do find "$c" -name cgroup.procs; done)
    ((${#pids[@]} == 0)) && break
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  ((${#pids[@]} == 0)) || say "processes left in cgroup $node_cgroup: ${pids[*]}"
  for name in kube-proxy kubelet containerd node-holder; do stop_proc "$name"; done
  # Deepest first: a cgroup can only go once its children are gone.
  while IFS= read -r d; do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d $d ]] && say "could not remove cgroup $d"
  done < <(cgroup_dirs)
  return 0
}
