#!/usr/bin/env bash
# A real Kubernetes cluster for siding's end-to-end tests, without Docker: etcd,
# kube-apiserver, kube-controller-manager (and kube-scheduler) as plain processes in a
# network namespace of their own, and either
#   - (default) siding's webhook (the current dist/ build), one or two replicas, each a
#     process in a network namespace of its own that stands in for one of the
#     Deployment's pods (no node: they stay Pending), or
#   - (`up --node`) one real node in that second namespace: containerd, kubelet and
#     kube-proxy (scripts/testenv/node.sh), with siding installed the way users install
#     it, `kubectl apply -k` of an overlay that only sets the image (built by
#     scripts/build-image.sh) and its pull policy;
#   - (`up --cni`) the same node with siding's CNI mode installed instead
#     (test/e2e/overlay-cni: manifests/overlays/cni with the same local image), its
#     DaemonSet's host directories pointed at the node's own CNI directories, which live
#     in the state directory (the node's containerd reads its CNI plugins and
#     configuration there, never from the machine's /opt/cni or /etc/cni).
# Nothing is added to the machine's own network namespace: the two namespaces are joined
# by a veth pair, and whatever talks to the API server runs in the control plane's
# namespace (`ip netns exec`; scripts/e2e.sh runs the tests there).
#
#   scripts/kube-testenv.sh up [--node|--cni]  start or repair everything; last line = kubeconfig path
#   scripts/kube-testenv.sh down     stop every process it started, remove netns, cgroups, state
#   scripts/kube-testenv.sh status   report; exit 0 when everything is up, 3 otherwise
#   scripts/kube-testenv.sh webhook-stop    stop every webhook replica (the e2e tests'
#                                           outage; without --node only)
#   scripts/kube-testenv.sh webhook-start   start the replicas again; returns once the API
#                                           server admits through the webhook
#   scripts/kube-testenv.sh webhook-scale N run N replicas (1 or 2; without --node): a new
#                                           one becomes an endpoint once it serves; one
#                                           going away stops being an endpoint, then gets
#                                           SIGTERM and drains
#   scripts/kube-testenv.sh webhook-rollout restart the running replicas one by one, as a
#                                           Deployment rollout does (without --node):
#                                           endpoint removed, pre-stop wait, SIGTERM,
#                                           drain, new process, endpoint added once it serves
#   scripts/kube-testenv.sh exec CMD...     run CMD in the control plane's namespace with
#                                           KUBECONFIG set (kubectl, curl, a shell)
#   scripts/kube-testenv.sh env      the names of what `up` creates, KEY=VALUE per line
#
# Needs root (network namespaces, veth), Go for the first build (scripts/build-kube.sh),
# Node 24 (scripts/install-node.sh), etcd (Debian's etcd-server), openssl, curl, a built
# dist/ (npm run build); with --node also containerd, runc, the CNI plugins and the images
# of scripts/build-image.sh (scripts/setup.sh installs and builds all of it).
#
# Network (defaults), all inside the two namespaces:
#   netns siding-cp (control plane): veth sdtenv0 10.250.99.1/30 (and, for a second
#                                    webhook replica, veth sdtenv0b 10.250.99.5/30)
#     etcd                     127.0.0.1:12379 (peer 12380), plain HTTP
#     kube-apiserver           10.250.99.1:6443
#     kube-controller-manager  127.0.0.1:10257, kube-scheduler 127.0.0.1:10259 (health only)
#   netns siding-node: veth sdtenv0n 10.250.99.2/30
#     siding webhook           10.250.99.2:9443 (without --node; replica 1)
#     kubelet 10.250.99.2:10250, pods on bridge sdbr0 10.250.101.0/24 (with --node)
#   netns siding-node2 (without --node, a second replica only): veth sdtenv0bn 10.250.99.6/30
#     siding webhook           10.250.99.6:9443 (replica 2)
# Without --node the API server reaches the webhook through the siding Service with
# --enable-aggregator-routing=true: it resolves the Service to a ready endpoint of the
# EndpointSlice this script writes (the replicas' netns addresses). With --node it calls the Service's ClusterIP, which
# the control plane routes to the node, where kube-proxy sends it to a webhook pod.
#
# Settings (environment):
#   SIDING_TESTENV_DIR      state, logs, pid files, kubeconfigs   (/tmp/siding-testenv)
#   SIDING_TESTENV_CERTS    manage: the webhook runs with --manage-certs, as the manifests
#                           run it; static: `siding certs generate` (or openssl) makes the
#                           serving cert and this script patches the caBundle   (manage;
#                           without --node only)
#   SIDING_TESTENV_CA_OVERLAP / SIDING_TESTENV_CERT_CHECK_INTERVAL   manage mode: the
#                           webhook's --ca-overlap / --cert-check-interval, short so that
#                           a CA rotation completes within a test       (4s / 1s)
#   SIDING_TESTENV_CP_NETNS the control plane's network namespace (siding-cp)
#   SIDING_TESTENV_NETNS    the node's (or the webhook's) network namespace (siding-node)
#   SIDING_TESTENV_VETH     control-plane-side veth name, <= 11 chars (sdtenv0; the
#                           node's end is this name plus n)
#   SIDING_TESTENV_HOST_IP / SIDING_TESTENV_NS_IP   the /30 pair: control plane's end,
#                           node's end                             (10.250.99.1 / .2)
#   SIDING_TESTENV_WEBHOOK_REPLICAS  replicas up and webhook-start run, 1 or 2 (1;
#                           without --node: the Deployment's own replicas run there)
#   SIDING_TESTENV_NETNS2 / SIDING_TESTENV_VETH2    replica 2's netns, and its veth in the
#                           control plane's netns (${NETNS}2 / ${VETH}b; its peer: plus n)
#   SIDING_TESTENV_HOST_IP2 / SIDING_TESTENV_NS_IP2 replica 2's /30 pair
#                                                   (10.250.99.5 / .6)
#   SIDING_TESTENV_PRESTOP  seconds between taking a replica out of the endpoints and
#                           its SIGTERM (the Deployment's preStop sleep)   (2)
#   SIDING_TESTENV_GRACE    seconds a replica may take to exit after SIGTERM before it
#                           is killed (terminationGracePeriodSeconds)      (30)
#   SIDING_TESTENV_ENDPOINT_LAG  seconds a retired replica stays a ready endpoint after
#                           its SIGTERM (the pre-stop wait is skipped): how an API server
#                           that calls the Service's ClusterIP keeps reaching it   (0)
#   SIDING_TESTENV_APISERVER_PORT (6443)  SIDING_TESTENV_ETCD_PORT (12379, peer +1)
#   SIDING_TESTENV_KCM_PORT (10257)       SIDING_TESTENV_SCHEDULER_PORT (10259)
#   SIDING_TESTENV_WEBHOOK_PORT (9443)
#   SIDING_TESTENV_POD_CIDR (10.250.101.0/24)  SIDING_TESTENV_NODE_NAME (siding-node)
#   SIDING_TESTENV_CGROUP   the node's cgroup, in every hierarchy (siding-testenv-<netns>)
#   SIDING_TESTENV_CONTAINERD_ROOT / _STATE / _SOCKET   the node's containerd
#                           ($SIDING_TESTENV_DIR/node/containerd/{root,state}, .../node/containerd.sock)
#   SIDING_TESTENV_TIMEOUT  seconds to wait for each component    (120)
#   SIDING_ETCD             etcd binary                           (etcd on PATH)
#   SIDING_CNI_BIN          CNI plugins                           (/usr/lib/cni)
#   SIDING_CACHE            where the build scripts cache         (/var/cache/siding)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${SIDING_TESTENV_DIR:-/tmp/siding-testenv}
certs_mode=${SIDING_TESTENV_CERTS:-manage}
ca_overlap=${SIDING_TESTENV_CA_OVERLAP:-4s}
cert_check_interval=${SIDING_TESTENV_CERT_CHECK_INTERVAL:-1s}
cp_netns=${SIDING_TESTENV_CP_NETNS:-siding-cp}
netns=${SIDING_TESTENV_NETNS:-siding-node}
veth_cp=${SIDING_TESTENV_VETH:-sdtenv0}
veth_ns="${veth_cp}n"
cp_ip=${SIDING_TESTENV_HOST_IP:-10.250.99.1}
ns_ip=${SIDING_TESTENV_NS_IP:-10.250.99.2}
apiserver_port=${SIDING_TESTENV_APISERVER_PORT:-6443}
etcd_port=${SIDING_TESTENV_ETCD_PORT:-12379}
etcd_peer_port=$((etcd_port + 1))
kcm_port=${SIDING_TESTENV_KCM_PORT:-10257}
scheduler_port=${SIDING_TESTENV_SCHEDULER_PORT:-10259}
webhook_port=${SIDING_TESTENV_WEBHOOK_PORT:-9443}
replicas=${SIDING_TESTENV_WEBHOOK_REPLICAS:-1}
netns2=${SIDING_TESTENV_NETNS2:-${netns}2}
veth2_cp=${SIDING_TESTENV_VETH2:-${veth_cp}b}
cp_ip2=${SIDING_TESTENV_HOST_IP2:-10.250.99.5}
ns_ip2=${SIDING_TESTENV_NS_IP2:-10.250.99.6}
prestop=${SIDING_TESTENV_PRESTOP:-2}
grace=${SIDING_TESTENV_GRACE:-30}
endpoint_lag=${SIDING_TESTENV_ENDPOINT_LAG:-0}
timeout=${SIDING_TESTENV_TIMEOUT:-120}
# The heap flags every launch of the webhook passes to node, as the Deployment does; the
# list and the reason live in src/admission/node-flags.ts (a unit test keeps them in step).
webhook_node_flags=(--max-semi-space-size=8 --heap-growing-percent=50)
# ClusterIPs: routed to the node (kube-proxy) with --node, never routed without; the
# first address is the `kubernetes` Service, which the apiserver certificate names.
service_cidr=10.250.100.0/24
service_first_ip=10.250.100.1
# The veth pair's /30 (pods route to it: the kubelet and the API server reach them).
cp_net="${cp_ip%.*}.$((${cp_ip##*.} & 252))/30"
apiserver_url="https://$cp_ip:$apiserver_port"

# What `kubectl apply -k manifests/` creates and the testenv stands in for.
sys_ns=siding-system
service=siding
webhook_config=siding
cert_secret=siding-certs
config_map=siding-config

pki="$state/pki"
logs="$state/logs"
run="$state/run"
admin_kubeconfig="$state/admin.kubeconfig"
# The e2e install: the user's manifests with only the image and its pull policy changed.
overlay="$repo/test/e2e/overlay"
# CNI mode's: manifests/overlays/cni the same way (with the node's CNI paths patched in).
overlay_cni="$repo/test/e2e/overlay-cni"

die() { echo "kube-testenv: $*" >&2; exit 1; }
say() { echo "kube-testenv: $*" >&2; }

validate_settings() {
  local ipv4='^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$'
  local port='^[1-9][0-9]{0,4}$' name='^[a-z][a-z0-9-]{0,14}$'
  [[ $certs_mode == static || $certs_mode == manage ]] || die "SIDING_TESTENV_CERTS must be static or manage, got '$certs_mode'"
  local duration='^[1-9][0-9]{0,5}(ms|s|m|h)$'
  [[ $ca_overlap =~ $duration ]] || die "SIDING_TESTENV_CA_OVERLAP '$ca_overlap' must be a duration such as 4s"
  [[ $cert_check_interval =~ $duration ]] || die "SIDING_TESTENV_CERT_CHECK_INTERVAL '$cert_check_interval' must be a duration such as 1s"
  [[ $netns =~ $name ]] || die "SIDING_TESTENV_NETNS '$netns' must match $name"
  [[ $cp_netns =~ $name ]] || die "SIDING_TESTENV_CP_NETNS '$cp_netns' must match $name"
  [[ $cp_netns != "$netns" ]] || die "SIDING_TESTENV_CP_NETNS and SIDING_TESTENV_NETNS must differ"
  [[ $veth_cp =~ ^[a-z][a-z0-9]{0,10}$ ]] || die "SIDING_TESTENV_VETH '$veth_cp' must be <= 11 lowercase letters/digits"
  [[ $cp_ip =~ $ipv4 && $ns_ip =~ $ipv4 ]] || die "SIDING_TESTENV_HOST_IP/NS_IP must be IPv4 addresses"
  [[ ${cp_ip%.*} == "${ns_ip%.*}" && $((${cp_ip##*.} & 252)) == $((${ns_ip##*.} & 252)) && $cp_ip != "$ns_ip" ]] ||
    die "SIDING_TESTENV_HOST_IP and SIDING_TESTENV_NS_IP must be two addresses of one /30"
  [[ $replicas =~ ^[12]$ ]] || die "SIDING_TESTENV_WEBHOOK_REPLICAS must be 1 or 2, got '$replicas'"
  [[ $netns2 =~ $name && $netns2 != "$netns" && $netns2 != "$cp_netns" ]] ||
    die "SIDING_TESTENV_NETNS2 '$netns2' must match $name and differ from SIDING_TESTENV_NETNS and SIDING_TESTENV_CP_NETNS"
  [[ $veth2_cp =~ ^[a-z][a-z0-9]{0,10}$ && $veth2_cp != "$veth_cp" ]] ||
    die "SIDING_TESTENV_VETH2 '$veth2_cp' must be <= 11 lowercase letters/digits and differ from SIDING_TESTENV_VETH"
  [[ $cp_ip2 =~ $ipv4 && $ns_ip2 =~ $ipv4 ]] || die "SIDING_TESTENV_HOST_IP2/NS_IP2 must be IPv4 addresses"
  [[ ${cp_ip2%.*} == "${ns_ip2%.*}" && $((${cp_ip2##*.} & 252)) == $((${ns_ip2##*.} & 252)) && $cp_ip2 != "$ns_ip2" ]] ||
    die "SIDING_TESTENV_HOST_IP2 and SIDING_TESTENV_NS_IP2 must be two addresses of one /30"
  [[ $prestop =~ ^[0-9]{1,3}$ ]] || die "SIDING_TESTENV_PRESTOP must be a number of seconds, got '$prestop'"
  [[ $grace =~ ^[1-9][0-9]{0,3}$ ]] || die "SIDING_TESTENV_GRACE must be a positive number of seconds, got '$grace'"
  [[ $endpoint_lag =~ ^[0-9]{1,3}$ ]] || die "SIDING_TESTENV_ENDPOINT_LAG must be a number of seconds, got '$endpoint_lag'"
  local p
  for p in "$apiserver_port" "$etcd_port" "$kcm_port" "$scheduler_port" "$webhook_port"; do
    [[ $p =~ $port ]] && ((p <= 65535)) || die "invalid port '$p'"
  done
  [[ $timeout =~ ^[1-9][0-9]*$ ]] || die "SIDING_TESTENV_TIMEOUT must be a positive integer"
  [[ $state == /* ]] || die "SIDING_TESTENV_DIR must be an absolute path"
  case $state in "$repo"|"$repo"/*) die "SIDING_TESTENV_DIR must be outside the clone" ;; esac
}

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and veth)"; }

# Everything that talks to the control plane runs in its namespace.
in_cp() { ip netns exec "$cp_netns" "$@"; }

# ---------------------------------------------------------------------------
# Processes: pid files under $run; a pid only counts if it is still the program
# we started (guards against pid reuse after a reboot or crash).

pid_of() { # name -> prints pid if that process is alive and is ours
  local f="$run/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Every process we start carries the state dir in its command line.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$state/" || return 1
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

start_bg() { # name cmd... : start detached, log to $logs/name.log, record pid
  local name=$1; shift
  mkdir -p "$logs" "$run"
  printf '\n===== %s: starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$logs/$name.log"
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

term_proc() { # name : SIGTERM, no wait
  local pid
  if pid=$(pid_of "$1"); then kill -TERM "$pid" 2>/dev/null || true; fi
}

wait_proc() { # name [grace-seconds] : wait for the exit (10 s by default), then SIGKILL
  local name=$1 wait_s=${2:-10} pid i
  if pid=$(pid_of "$name"); then
    for ((i = 0; i < wait_s * 10; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
      say "$name (pid $pid) did not exit within ${wait_s}s of SIGTERM; killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$run/$name.pid"
}

stop_proc() { # name [grace-seconds] : SIGTERM, wait, SIGKILL
  term_proc "$1"
  wait_proc "$@"
}

wait_for() { # description command... : retry until it succeeds or $timeout
  local what=$1; shift
  local deadline=$((SECONDS + timeout)) out
  until out=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      say "timed out after ${timeout}s waiting for $what; last attempt said:"
      printf '%s\n' "$out" | tail -n 20 >&2
      say "logs in $logs"
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------
# Binaries

find_binaries() {
  bin=$("$repo/scripts/build-kube.sh" | tail -n 1)
  kubectl="$bin/kubectl"
  etcd_bin=${SIDING_ETCD:-$(command -v etcd || true)}
  [[ -x $etcd_bin ]] || die "etcd not found (apt-get install etcd-server, or set SIDING_ETCD)"
  [[ -f $repo/dist/cli.js ]] || die "dist/cli.js missing: run npm run build first"
  node_bin=$("$repo/scripts/install-node.sh" --check | tail -n 1) || die "Node 24 not found: run scripts/install-node.sh"
  node_bin+=/node
  command -v openssl >/dev/null || die "openssl not found"
  command -v curl >/dev/null || die "curl not found"
  if $node_mode; then
    local t
    for t in containerd runc ctr nsenter unshare iptables; do
      command -v "$t" >/dev/null || die "$t not found (scripts/setup.sh installs it)"
    done
    for t in bridge host-local loopback portmap; do
      [[ -x $cni_bin/$t ]] || die "CNI plugin $cni_bin/$t not found (Debian's containernetworking-plugins)"
    done
    [[ -f $overlay/kustomization.yaml ]] || die "$overlay/kustomization.yaml is missing"
  fi
}

kc() { in_cp "$kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

# ---------------------------------------------------------------------------
# PKI for the control plane (openssl; siding's own serving cert is separate)

# Keys are EC P-256 (the service-account key aside); everything lives 30 days,
# far longer than any test run.
new_key() { # path
  openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

new_ca() { # prefix common-name : prefix.key + self-signed prefix.crt
  new_key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt" 2>/dev/null
}

issue() { # ca-prefix out-prefix subject extensions : out.key + out.crt signed by the CA
  local ca=$1 out=$2 subj=$3 ext=$4
  new_key "$out.key"
  openssl req -new -key "$out.key" -subj "$subj" -out "$out.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$out.ext"
  openssl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -sha256 -extfile "$out.ext" \
    -out "$out.crt" 2>/dev/null
  rm -f "$out.csr" "$out.ext"
}

client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth"

make_pki() {
  [[ -f $pki/done ]] && return 0
  say "generating control-plane certificates in $pki"
  rm -rf "$pki"
  mkdir -p "$pki"
  chmod 0700 "$pki"
  new_ca "$pki/ca" siding-testenv-ca
  issue "$pki/ca" "$pki/apiserver" "/CN=kube-apiserver" "$server_ext
subjectAltName=IP:$cp_ip,IP:127.0.0.1,IP:$service_first_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters: the test harness is the cluster admin.
  issue "$pki/ca" "$pki/admin" "/O=system:masters/CN=siding-testenv-admin" "$client_ext"
  issue "$pki/ca" "$pki/kube-controller-manager" "/CN=system:kube-controller-manager" "$client_ext"
  # The aggregation layer's front proxy: its own CA (requestheader) and client cert.
  # Nothing here serves an APIService, but without it every delegating component
  # (the controller manager's authentication) logs a missing CA bundle forever.
  new_ca "$pki/front-proxy-ca" siding-testenv-front-proxy-ca
  issue "$pki/front-proxy-ca" "$pki/front-proxy-client" "/CN=front-proxy-client" "$client_ext"
  # Service-account token signing key (RSA: what every client expects).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 0600 "$pki/sa.key"
  touch "$pki/done"
}

write_kubeconfig() { # file user cert key server
  local file=$1 user=$2 cert=$3 key=$4 server=$5
  [[ -f $file ]] && return 0
  local tmp="$file.tmp"
  rm -f "$tmp"
  "$kubectl" --kubeconfig "$tmp" config set-cluster testenv --server "$server" \
    --certificate-authority "$pki/ca.crt" --embed-certs=true >/dev/null
  "$kubectl" --kubeconfig "$tmp" config set-credentials "$user" \
    --client-certificate "$cert" --client-key "$key" --embed-certs=true >/dev/null
  "$kubectl" --kubeconfig "$tmp" config set-context testenv --cluster testenv --user "$user" >/dev/null
  "$kubectl" --kubeconfig "$tmp" config use-context testenv >/dev/null
  chmod 0600 "$tmp"
  mv "$tmp" "$file"
}

# ---------------------------------------------------------------------------
# Network namespace and veth

# (stderr dropped: `ip netns list` complains about namespaces that other programs on the
# machine are deleting at that moment)
netns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

make_network() {
  local ns
  for ns in "$cp_netns" "$netns"; do
    netns_exists "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  if ! ip -n "$cp_netns" link show "$veth_cp" >/dev/null 2>&1; then
    ip -n "$cp_netns" link add "$veth_cp" type veth peer name "$veth_ns" netns "$netns"
  fi
  ip -n "$cp_netns" addr replace "$cp_ip/30" dev "$veth_cp"
  ip -n "$cp_netns" link set "$veth_cp" up
  ip -n "$netns" addr replace "$ns_ip/30" dev "$veth_ns"
  ip -n "$netns" link set "$veth_ns" up
  if $node_mode; then
    # The control plane reaches pods and ClusterIPs through the node; the node routes
    # between its bridge and the veth (its own ip_forward: nothing else changes).
    ip -n "$cp_netns" route replace "$pod_cidr" via "$ns_ip"
    ip -n "$cp_netns" route replace "$service_cidr" via "$ns_ip"
    # hostNetwork pods (CNI mode's node agent) reach the API server at its ClusterIP, as in
    # any cluster: the node needs a route for the Service range for kube-proxy's DNAT to
    # apply (a real node has its default route). On-link: a ClusterIP kube-proxy does not
    # translate fails at once instead of bouncing between the two namespaces.
    ip -n "$netns" route replace "$service_cidr" dev "$veth_ns"
    ip netns exec "$netns" sysctl -qw net.ipv4.ip_forward=1
  fi
}

# Replica r (1 or 2) of the webhook without --node: its process name (pid file, log),
# network namespace and address. Replica 1 is the single-replica testenv's webhook
# (process `webhook`, logs/webhook.log, in the node's namespace).
replica_proc() { if (($1 == 1)); then echo webhook; else echo "webhook-$1"; fi; }
replica_netns() { if (($1 == 1)); then echo "$netns"; else echo "$netns2"; fi; }
replica_ip() { if (($1 == 1)); then echo "$ns_ip"; else echo "$ns_ip2"; fi; }

# Replica 2's namespace, joined to the control plane's by a veth pair of its own (the
# control plane reaches it on its /30; it reaches the API server through that end).
make_replica_network() { # replica
  (($1 == 1)) && return 0
  netns_exists "$netns2" || ip netns add "$netns2"
  ip -n "$netns2" link set lo up
  if ! ip -n "$cp_netns" link show "$veth2_cp" >/dev/null 2>&1; then
    ip -n "$cp_netns" link add "$veth2_cp" type veth peer name "${veth2_cp}n" netns "$netns2"
  fi
  ip -n "$cp_netns" addr replace "$cp_ip2/30" dev "$veth2_cp"
  ip -n "$cp_netns" link set "$veth2_cp" up
  ip -n "$netns2" addr replace "$ns_ip2/30" dev "${veth2_cp}n"
  ip -n "$netns2" link set "${veth2_cp}n" up
  ip -n "$netns2" route replace "$cp_ip/32" via "$cp_ip2" dev "${veth2_cp}n"
}

remove_replica_network() { # replica
  (($1 == 1)) && return 0
  if netns_exists "$netns2"; then
    ip netns del "$netns2" # its veth pair goes with it
    say "removed netns $netns2"
  fi
}

remove_network() {
  local ns
  # The veth pairs, the node's bridge, pod veths, routes and iptables rules all live in
  # these namespaces and go with them.
  for ns in "$netns2" "$netns" "$cp_netns"; do
    if netns_exists "$ns"; then
      ip netns del "$ns"
      say "removed netns $ns"
    fi
  done
}

# ---------------------------------------------------------------------------
# Control plane

start_etcd() {
  running etcd && return 0
  mkdir -p "$state/etcd"
  chmod 0700 "$state/etcd"
  start_bg etcd ip netns exec "$cp_netns" "$etcd_bin" \
    --name siding-testenv \
    --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "siding-testenv=http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster-state new
  wait_for etcd in_cp curl -fsS "http://127.0.0.1:$etcd_port/health"
}

start_apiserver() {
  running kube-apiserver && return 0
  mkdir -p "$state/apiserver"
  local mode_flags=(--enable-aggregator-routing=true)
  if $node_mode; then
    # Webhooks are called at their Service's ClusterIP (kube-proxy on the node); the
    # kubelet is reached at its InternalIP with a client certificate, and its serving
    # certificate is verified.
    mode_flags=(
      --enable-aggregator-routing=false
      --enable-admission-plugins NodeRestriction
      --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt"
      --kubelet-client-key "$pki/apiserver-kubelet-client.key"
      --kubelet-certificate-authority "$pki/ca.crt"
      --kubelet-preferred-address-types InternalIP
    )
  fi
  start_bg kube-apiserver ip netns exec "$cp_netns" "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --etcd-prefix /registry \
    --bind-address "$cp_ip" \
    --advertise-address "$cp_ip" \
    --secure-port "$apiserver_port" \
    --cert-dir "$state/apiserver" \
    --tls-cert-file "$pki/apiserver.crt" \
    --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-cluster-ip-range "$service_cidr" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    "${mode_flags[@]}" \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" \
    --proxy-client-key-file "$pki/front-proxy-client.key" \
    --profiling=false \
    --v=1
  wait_for "kube-apiserver /readyz" kc get --raw /readyz
}

start_controller_manager() {
  running kube-controller-manager && return 0
  # `endpoint` is off: that controller owns the Endpoints object of every Service
  # with a selector and would replace the one written below with the (IP-less,
  # Pending) Deployment pods. EndpointSlices are unaffected: the slice controller
  # leaves slices with another managed-by label alone, and 1.34's API server routes
  # by slices. The Endpoints object is for API servers that still read it (<= 1.33).
  local controllers='*,-endpoint'
  $node_mode && controllers='*'
  start_bg kube-controller-manager ip netns exec "$cp_netns" "$bin/kube-controller-manager" \
    --kubeconfig "$state/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$state/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$state/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 \
    --secure-port "$kcm_port" \
    --cert-dir "$state/kube-controller-manager" \
    --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" \
    --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range "$service_cidr" \
    --controllers "$controllers" \
    --leader-elect=false \
    --profiling=false \
    --v=1
  wait_for kube-controller-manager in_cp curl -fsSk "https://127.0.0.1:$kcm_port/healthz"
  # The ServiceAccount controller is running once `default` has its ServiceAccount
  # (pods cannot be created in a namespace without one).
  wait_for "the default ServiceAccount" kc -n default get serviceaccount default
}

start_scheduler() {
  running kube-scheduler && return 0
  write_kubeconfig "$state/kube-scheduler.kubeconfig" system:kube-scheduler \
    "$pki/kube-scheduler.crt" "$pki/kube-scheduler.key" "$apiserver_url"
  start_bg kube-scheduler ip netns exec "$cp_netns" "$bin/kube-scheduler" \
    --kubeconfig "$state/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$state/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$state/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 \
    --secure-port "$scheduler_port" \
    --leader-elect=false \
    --profiling=false \
    --v=1
  wait_for kube-scheduler in_cp curl -fsSk "https://127.0.0.1:$scheduler_port/healthz"
}

# ---------------------------------------------------------------------------
# siding: manifests, serving certificate, the webhook in the netns, endpoints

apply_manifests() {
  # Unchanged, exactly as users apply them.
  wait_for "kubectl apply -k manifests/" kc apply -k "$repo/manifests"
}

# Static mode: a serving certificate for siding.siding-system.svc in $state/webhook-certs
# (ca.crt, tls.crt, tls.key). `siding certs generate` when the build has it, else openssl.
make_static_serving_cert() {
  local dir="$state/webhook-certs"
  [[ -f $dir/tls.crt && -f $dir/tls.key && -f $dir/ca.crt ]] && return 0
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  if "$node_bin" "$repo/dist/cli.js" certs generate --help 2>/dev/null | grep -q -- --out-dir; then
    "$node_bin" "$repo/dist/cli.js" certs generate --service "$service" --namespace "$sys_ns" --out-dir "$dir" >&2
  else
    say "this build has no 'siding certs generate'; making the webhook certificate with openssl"
    new_ca "$dir/ca" siding-testenv-webhook-ca
    issue "$dir/ca" "$dir/tls" "/CN=$service.$sys_ns.svc" "$server_ext
subjectAltName=DNS:$service,DNS:$service.$sys_ns,DNS:$service.$sys_ns.svc,DNS:$service.$sys_ns.svc.cluster.local"
  fi
  for f in ca.crt tls.crt tls.key; do
    [[ -f $dir/$f ]] || die "serving certificate generation left no $dir/$f"
  done
}

patch_ca_bundle() {
  local name ca
  name=$(kc get mutatingwebhookconfiguration "$webhook_config" -o jsonpath='{.webhooks[0].name}')
  [[ $name == inject.siding.io ]] || die "webhook 0 of $webhook_config is '$name', expected inject.siding.io"
  ca=$(base64 -w0 <"$state/webhook-certs/ca.crt")
  kc patch mutatingwebhookconfiguration "$webhook_config" --type json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca\"}]" >/dev/null
}

# The webhook authenticates as the siding ServiceAccount, so the manifests' RBAC is
# what it gets, exactly as in a cluster. The token is re-issued on every start and
# written straight into the file (never onto a command line).
write_webhook_kubeconfig() {
  local file="$state/webhook.kubeconfig" token ca
  token=$(kc -n "$sys_ns" create token siding --duration 24h)
  ca=$(base64 -w0 <"$pki/ca.crt")
  (
    umask 077
    cat >"$file.tmp" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: testenv
    cluster:
      server: $apiserver_url
      certificate-authority-data: $ca
users:
  - name: siding
    user:
      token: $token
contexts:
  - name: testenv
    context: {cluster: testenv, user: siding, namespace: $sys_ns}
current-context: testenv
YAML
  )
  mv "$file.tmp" "$file"
}

start_webhook() { # replica
  local r=$1 proc
  proc=$(replica_proc "$r")
  running "$proc" && return 0
  # Both modes watch the ConfigMap, as the manifests' Deployment does, so edits reach
  # the running webhook.
  write_webhook_kubeconfig
  local args=(webhook --listen "$(replica_ip "$r"):$webhook_port" --kubeconfig "$state/webhook.kubeconfig"
    --namespace "$sys_ns" --config-map "$config_map")
  if [[ $certs_mode == manage ]]; then
    # A short overlap and re-check (the defaults are 1h and 5m) let a CA rotation run
    # all three steps within an end-to-end test.
    args+=(--manage-certs --service "$service" --webhook-config "$webhook_config" --cert-secret "$cert_secret"
      --ca-overlap "$ca_overlap" --cert-check-interval "$cert_check_interval")
  else
    # Serves the ConfigMap's config from a file until the watch has loaded it.
    mkdir -p "$state/webhook"
    kc -n "$sys_ns" get configmap "$config_map" -o jsonpath='{.data.config\.yaml}' >"$state/webhook/config.yaml"
    args+=(--tls-cert-file "$state/webhook-certs/tls.crt" --tls-key-file "$state/webhook-certs/tls.key"
      --config "$state/webhook/config.yaml")
  fi
  # `ip netns exec` execs node, so the recorded pid is the webhook's own.
  start_bg "$proc" ip netns exec "$(replica_netns "$r")" "$node_bin" "${webhook_node_flags[@]}" "$repo/dist/cli.js" "${args[@]}"
}

# Which replicas are endpoints of the Service, and how: $run/endpoints holds lines
# "REPLICA ready" or "REPLICA terminating" (what the EndpointSlice controller writes for a
# pod being deleted: not ready, still serving). The API server only calls ready ones.
endpoints_file() { echo "$run/endpoints"; }

endpoint_set() { # replica ready|terminating|absent
  local f tmp
  f=$(endpoints_file)
  tmp="$f.tmp"
  mkdir -p "$run"
  touch "$f"
  grep -v "^$1 " "$f" >"$tmp" || true
  [[ $2 == absent ]] || echo "$1 $2" >>"$tmp"
  sort -o "$tmp" "$tmp"
  mv "$tmp" "$f"
  write_endpoints
}

write_endpoints() {
  local f r st ip slice="" ready="" not_ready=""
  f=$(endpoints_file)
  mkdir -p "$run"
  [[ -f $f ]] || touch "$f"
  while read -r r st; do
    [[ -n $r ]] || continue
    ip=$(replica_ip "$r")
    if [[ $st == ready ]]; then
      slice+="  - addresses: [\"$ip\"]"$'\n'"    conditions: {ready: true, serving: true, terminating: false}"$'\n'
      ready+="      - ip: $ip"$'\n'
    else
      slice+="  - addresses: [\"$ip\"]"$'\n'"    conditions: {ready: false, serving: true, terminating: true}"$'\n'
      not_ready+="      - ip: $ip"$'\n'
    fi
  done <"$f"
  local subsets="subsets: []"
  if [[ -n $ready$not_ready ]]; then
    subsets="subsets:"$'\n'"  - ports:"$'\n'"      - name: https"$'\n'"        port: $webhook_port"$'\n'"        protocol: TCP"
    [[ -z $ready ]] || subsets+=$'\n'"    addresses:"$'\n'"${ready%$'\n'}"
    [[ -z $not_ready ]] || subsets+=$'\n'"    notReadyAddresses:"$'\n'"${not_ready%$'\n'}"
  fi
  [[ -n $slice ]] || slice="  []"$'\n'
  # Owned by the testenv (managed-by label), so the EndpointSlice controller leaves it
  # alone; the port name matches the Service's port name, which is how the API server
  # pairs them.
  # (kubectl warns that v1 Endpoints is deprecated: expected, and filtered.)
  kc apply -f - 2> >(grep -v 'v1 Endpoints is deprecated' >&2) >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $service-testenv
  namespace: $sys_ns
  labels:
    kubernetes.io/service-name: $service
    endpointslice.kubernetes.io/managed-by: siding-testenv
addressType: IPv4
endpoints:
${slice%$'\n'}
ports:
  - name: https
    port: $webhook_port
    protocol: TCP
---
apiVersion: v1
kind: Endpoints
metadata:
  name: $service
  namespace: $sys_ns
  labels:
    endpoints.kubernetes.io/managed-by: siding-testenv
$subsets
EOF
}

# The CA a client must trust: the one in the caBundle the API server uses (manage mode
# fills it), or the static mode's own.
serving_ca() { # file
  if [[ $certs_mode == static ]]; then
    cp "$state/webhook-certs/ca.crt" "$1"
  else
    kc get mutatingwebhookconfiguration "$webhook_config" \
      -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null | base64 -d >"$1" 2>/dev/null
  fi
}

webhook_serving() { # ca-file replica
  in_cp curl -fsS --max-time 2 --cacert "$1" --resolve "$service.$sys_ns.svc:$webhook_port:$(replica_ip "$2")" \
    "https://$service.$sys_ns.svc:$webhook_port/readyz"
}

# A replica is ready (what its readiness probe would say) when it answers /readyz with
# 200 and a certificate the caBundle trusts.
replica_ready() { # replica
  local ca ok=1
  running "$(replica_proc "$1")" || return 1
  ca=$(mktemp)
  if serving_ca "$ca" && [[ -s $ca ]] && webhook_serving "$ca" "$1" >/dev/null 2>&1; then ok=0; fi
  rm -f "$ca"
  return "$ok"
}

wait_replica_ready() { # replica
  local r=$1 proc deadline=$((SECONDS + timeout))
  proc=$(replica_proc "$r")
  until replica_ready "$r"; do
    if ! running "$proc"; then
      say "$proc exited; its log:"
      tail -n 20 "$logs/$proc.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "timed out after ${timeout}s waiting for $proc to serve /readyz; its log:"
      tail -n 20 "$logs/$proc.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# Takes a replica out of service as the EndpointSlice controller and the kubelet do for a
# deleted pod: not ready in the endpoints, the preStop wait, SIGTERM, up to the grace
# period to drain and exit; then gone from the endpoints.
# With SIDING_TESTENV_ENDPOINT_LAG, SIGTERM comes first and the endpoint stays ready that
# many seconds longer: what an API server calling the Service's ClusterIP sees, whose
# pooled connections (kube-proxy keeps established ones) reach the pod after its SIGTERM.
retire_replica() { # replica
  local r=$1 proc
  proc=$(replica_proc "$r")
  if ((endpoint_lag > 0)); then
    term_proc "$proc"
    sleep "$endpoint_lag"
    endpoint_set "$r" terminating
  else
    endpoint_set "$r" terminating
    sleep "$prestop"
    term_proc "$proc"
  fi
  wait_proc "$proc" "$grace"
  endpoint_set "$r" absent
}

# The whole path works when the API server, asked to create a pod in a labelled
# namespace (server-side dry run: nothing is stored), calls the webhook through the
# Service and gets an answer it trusts. Until then admission fails (failurePolicy Fail).
probe_ns=siding-testenv-probe
admission_works() {
  kc create --dry-run=server -o name -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: siding-testenv-probe
  namespace: $probe_ns
spec:
  containers:
    - name: app
      image: registry.invalid/probe:1
EOF
}

wait_for_webhook() {
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $probe_ns
  labels:
    siding-injection: enabled
EOF
  local deadline=$((SECONDS + timeout)) out r proc
  until out=$(admission_works 2>&1); do
    for r in "$@"; do
      proc=$(replica_proc "$r")
      if ! running "$proc"; then
        say "the webhook ($proc) exited; its log:"
        tail -n 20 "$logs/$proc.log" >&2 || true
        return 1
      fi
    done
    if ((SECONDS >= deadline)); then
      say "timed out after ${timeout}s waiting for the API server to reach the webhook (admission of a probe pod); last attempt said:"
      printf '%s\n' "$out" | tail -n 20 >&2
      if $node_mode; then
        say "the siding pods:"
        kc -n "$sys_ns" get pods -o wide >&2 || true
      else
        for r in "$@"; do
          proc=$(replica_proc "$r")
          say "$proc log tail:"
          tail -n 20 "$logs/$proc.log" >&2 || true
        done
      fi
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------
# The node mode's install: the overlay, as a user applies it

apply_overlay() {
  local applied=$overlay
  if $cni_mode; then
    # The overlay users apply, plus where this node keeps its CNI directories; generated
    # because they live in the state directory, which is a setting.
    applied="$state/overlay-cni"
    mkdir -p "$applied"
    cat >"$applied/kustomization.yaml" <<EOF
# Written by scripts/kube-testenv.sh up --cni.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$applied" "$overlay_cni")
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: DaemonSet
      metadata: {name: siding-cni, namespace: $sys_ns}
      spec:
        template:
          spec:
            volumes:
              - {name: cni-bin, hostPath: {path: $node_dir/cni/bin, type: Directory}}
              - {name: cni-conf, hostPath: {path: $node_dir/cni/net.d, type: Directory}}
              - {name: state, hostPath: {path: $node_dir/cni/state, type: DirectoryOrCreate}}
EOF
  fi
  wait_for "kubectl apply -k ${applied#"$repo"/}" kc apply -k "$applied"
}

wait_for_siding() {
  wait_for "the siding Deployment to become Available" \
    kc -n "$sys_ns" wait deployment/siding --for condition=Available --timeout 5s
  if $cni_mode; then
    wait_for "the siding-cni DaemonSet to be ready" \
      kc -n "$sys_ns" rollout status daemonset/siding-cni --timeout 5s
  fi
}

# ---------------------------------------------------------------------------
# Commands

# The replicas `up` and `webhook-start` run: 1 .. SIDING_TESTENV_WEBHOOK_REPLICAS.
wanted_replicas() { seq 1 "$replicas"; }
# Replicas with a live process.
running_replicas() {
  local r
  for r in 1 2; do
    if running "$(replica_proc "$r")"; then echo "$r"; fi
  done
}

# Every wanted replica becomes a ready endpoint right away (the outage test restarts
# replicas that are still listed), then runs; returns once admission works.
start_replicas() {
  local r
  for r in $(wanted_replicas); do
    make_replica_network "$r"
    grep -q "^$r " "$(endpoints_file)" 2>/dev/null || endpoint_set "$r" ready
  done
  write_endpoints
  for r in $(wanted_replicas); do start_webhook "$r"; done
  # shellcheck disable=SC2046 # one replica number per word
  wait_for_webhook $(wanted_replicas)
}

# The mode of the environment that is up (or was last brought up), so that `up` repairs
# it as it was and `down`/`status` know what to look for.
saved_mode() { [[ -f $state/mode ]] && cat "$state/mode" || echo api; }

cmd_up() {
  require_root
  local want=${1:-}
  if [[ -z $want ]]; then want=$(saved_mode); fi
  if [[ -f $state/mode && $(saved_mode) != "$want" ]]; then
    die "the test environment in $state is up as '$(saved_mode)'; run down first"
  fi
  node_mode=false
  cni_mode=false
  [[ $want == node || $want == cni ]] && node_mode=true
  [[ $want == cni ]] && cni_mode=true
  if $node_mode && [[ $replicas != 1 ]]; then
    die "with --node the siding Deployment runs its own replicas (SIDING_TESTENV_WEBHOOK_REPLICAS is for the webhook as a process)"
  fi
  if $node_mode && [[ $certs_mode != manage ]]; then
    die "with --node the webhook manages its certificates as the manifests say (SIDING_TESTENV_CERTS=manage)"
  fi
  find_binaries
  mkdir -p "$state" "$logs" "$run"
  chmod 0700 "$state"
  echo "$want" >"$state/mode"
  make_pki
  $node_mode && write_node_pki
  write_kubeconfig "$admin_kubeconfig" siding-testenv-admin "$pki/admin.crt" "$pki/admin.key" "$apiserver_url"
  write_kubeconfig "$state/kube-controller-manager.kubeconfig" system:kube-controller-manager \
    "$pki/kube-controller-manager.crt" "$pki/kube-controller-manager.key" "$apiserver_url"
  make_network
  local t0=$SECONDS prepare=
  if $node_mode; then
    validate_node_settings
    prepare_node &
    prepare=$!
  fi
  start_etcd
  start_apiserver
  start_controller_manager
  if $node_mode; then
    start_scheduler
    say "control plane up ($((SECONDS - t0))s)"
    # Applied while the runtime still imports the images: the webhook's pods wait in the
    # scheduler and start the moment the node is Ready.
    apply_overlay
    wait "$prepare" || die "the node's runtime did not come up (logs in $logs)"
    join_node
    wait_for_siding
    wait_for_webhook
    say "siding installed and admitting ($((SECONDS - t0))s)"
    say "up: control plane in netns $cp_netns (https://$cp_ip:$apiserver_port), node $node_name in netns $netns ($ns_ip, pods $pod_cidr), siding installed from ${overlay#"$repo"/}$($cni_mode && echo " (CNI mode: ${overlay_cni#"$repo"/})" || true)"
  else
    apply_manifests
    if [[ $certs_mode == static ]]; then
      # Every time, not only when the webhook starts: cheap, and repairs a caBundle
      # that a test (or a re-created configuration) changed.
      make_static_serving_cert
      patch_ca_bundle
    fi
    start_replicas
    say "up: control plane in netns $cp_netns (https://$cp_ip:$apiserver_port), webhook ($certs_mode certs, $replicas replica(s)) in netns $netns at $ns_ip:$webhook_port$( ((replicas == 2)) && echo " and $netns2 at $ns_ip2:$webhook_port")"
  fi
  echo "$admin_kubeconfig"
}

api_mode_only() { # command
  [[ $(saved_mode) == api ]] || die "$1: with --node the webhook runs as the siding Deployment: scale or restart it with kubectl instead"
}

# For the e2e tests' outage: every replica stops, the endpoints stay as they are (the
# API server keeps calling them and fails), the rest of the environment keeps running.
cmd_webhook_stop() {
  require_root
  api_mode_only webhook-stop
  local r
  for r in 1 2; do stop_proc "$(replica_proc "$r")" "$grace"; done
}

cmd_webhook_start() {
  require_root
  api_mode_only webhook-start
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  start_replicas
  say "webhook serving ($certs_mode certs, $replicas replica(s))"
}

cmd_webhook_scale() { # count
  require_root
  api_mode_only webhook-scale
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  local n=${1:-} r
  [[ $n =~ ^[12]$ ]] || die "webhook-scale takes 1 or 2 replicas, got '$n'"
  for ((r = 1; r <= n; r++)); do
    running "$(replica_proc "$r")" && continue
    make_replica_network "$r"
    start_webhook "$r"
    wait_replica_ready "$r"
    endpoint_set "$r" ready
    say "replica $r ($(replica_proc "$r")) serving at $(replica_ip "$r"):$webhook_port and an endpoint"
  done
  for ((r = n + 1; r <= 2; r++)); do
    if running "$(replica_proc "$r")" || grep -q "^$r " "$(endpoints_file)" 2>/dev/null; then
      retire_replica "$r"
      remove_replica_network "$r"
      say "replica $r retired"
    fi
  done
  # shellcheck disable=SC2046 # one replica number per word
  wait_for_webhook $(seq 1 "$n")
}

cmd_webhook_rollout() {
  require_root
  api_mode_only webhook-rollout
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  local all r
  all=$(running_replicas)
  [[ -n $all ]] || die "no webhook replica is running: use webhook-start"
  if [[ $(wc -w <<<"$all") -lt 2 ]]; then
    say "warning: one replica: while it restarts the Service has no ready endpoint, and admission fails"
  fi
  for r in $all; do
    if ((endpoint_lag > 0)); then
      say "rollout: replica $r: SIGTERM, ${endpoint_lag}s still a ready endpoint, out of the endpoints, drain"
    else
      say "rollout: replica $r: out of the endpoints, ${prestop}s pre-stop, SIGTERM, drain"
    fi
    retire_replica "$r"
    start_webhook "$r"
    wait_replica_ready "$r"
    endpoint_set "$r" ready
    say "rollout: replica $r restarted (pid $(pid_of "$(replica_proc "$r")")) and an endpoint again"
  done
  # shellcheck disable=SC2086 # one replica number per word
  wait_for_webhook $all
}

cmd_down() {
  require_root
  local name
  stop_proc webhook
  stop_proc webhook-2
  # The node first (its pods, runtime and cgroup), while the API server is still there.
  stop_node
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_proc "$name"
  done
  remove_network
  if [[ -d $state ]]; then
    # Keep the logs of the last run for post-mortems; everything else goes.
    find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
    say "removed state in $state (logs kept in $logs)"
  fi
}

cmd_exec() {
  require_root
  (($# > 0)) || die "usage: $0 exec CMD..."
  netns_exists "$cp_netns" || die "netns $cp_netns does not exist: use up"
  local kdir
  kdir=$("$repo/scripts/build-kube.sh" --check 2>/dev/null | tail -n 1) || kdir=""
  # nsenter, not `ip netns exec`: the latter mounts the namespace's own sysfs over /sys,
  # which hides the machine's cgroup hierarchies (/sys/fs/cgroup) from CMD, and the e2e
  # suite makes memory cgroups.
  exec nsenter "--net=/run/netns/$cp_netns" -- env KUBECONFIG="$admin_kubeconfig" PATH="${kdir:+$kdir:}$PATH" "$@"
}

# The resolved names of everything `up` creates, one KEY=VALUE per line (for tests and
# tools that must find them: the teardown test checks each is gone after `down`).
cmd_env() {
  printf '%s=%s\n' dir "$state" cp_netns "$cp_netns" netns "$netns" veth "$veth_cp" veth_peer "$veth_ns" \
    netns2 "$netns2" veth2 "$veth2_cp" veth2_peer "${veth2_cp}n" \
    cgroup "$node_cgroup" containerd_socket "$containerd_socket" containerd_root "$containerd_root" \
    containerd_state "$containerd_state" bridge "$bridge" node_name "$node_name" pod_cidr "$pod_cidr" \
    cni_bin_dir "$node_dir/cni/bin" cni_conf_dir "$node_dir/cni/net.d" cni_conf_original "$node_dir/cni/original.conflist"
}

# Without --node: replicas 1 .. SIDING_TESTENV_WEBHOOK_REPLICAS must run; a second one
# started by webhook-scale is reported too. Ready means: serving /readyz with a
# certificate the webhook's caBundle trusts. Returns 3 when a wanted replica is not.
status_replicas() {
  local ok=0 r proc pid api=false
  [[ -n $bin && -f $admin_kubeconfig ]] && netns_exists "$cp_netns" && api=true
  for r in 1 2; do
    proc=$(replica_proc "$r")
    if ((r > replicas)) && ! running "$proc" && ! netns_exists "$(replica_netns "$r")"; then continue; fi
    if pid=$(pid_of "$proc"); then
      printf '%-24s running (pid %s) in netns %s at %s\n' "$proc" "$pid" "$(replica_netns "$r")" "$(replica_ip "$r")"
    else
      printf '%-24s stopped\n' "$proc"; ((r > replicas)) || ok=3
    fi
    if $api && replica_ready "$r"; then
      printf '%-24s ready\n' "  readiness"
    elif $api && in_cp curl -fsSk --max-time 2 "https://$(replica_ip "$r"):$webhook_port/readyz" >/dev/null 2>&1; then
      printf '%-24s serving, but not with a certificate the caBundle trusts\n' "  readiness"; ((r > replicas)) || ok=3
    else
      printf '%-24s not ready\n' "  readiness"; ((r > replicas)) || ok=3
    fi
  done
  if [[ -f $(endpoints_file) ]]; then
    printf '%-24s %s\n' endpoints "$(awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}' "$(endpoints_file)")"
  fi
  return "$ok"
}

cmd_status() {
  local ok=0 name pid mode names
  mode=$(saved_mode)
  names=(etcd kube-apiserver kube-controller-manager)
  [[ $mode == node || $mode == cni ]] && names=(etcd kube-apiserver kube-controller-manager kube-scheduler node-holder containerd kubelet kube-proxy)
  printf '%-24s %s\n' mode "$mode"
  for name in "${names[@]}"; do
    if pid=$(pid_of "$name"); then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s stopped\n' "$name"; ok=3
    fi
  done
  for name in "$cp_netns" "$netns"; do
    if netns_exists "$name"; then printf '%-24s %s\n' netns "$name"; else printf '%-24s %s missing\n' netns "$name"; ok=3; fi
  done
  if netns_exists "$cp_netns" && ip -n "$cp_netns" link show "$veth_cp" >/dev/null 2>&1; then
    printf '%-24s %s (%s) <-> %s (%s)\n' veth "$veth_cp" "$cp_ip" "$veth_ns" "$ns_ip"
  else
    printf '%-24s missing\n' veth; ok=3
  fi
  bin=$("$repo/scripts/build-kube.sh" --check 2>/dev/null | tail -n 1) || bin=""
  kubectl="$bin/kubectl"
  if [[ -n $bin && -f $admin_kubeconfig ]] && netns_exists "$cp_netns" && kc get --raw /readyz >/dev/null 2>&1; then
    printf '%-24s ready\n' apiserver
  else
    printf '%-24s not ready\n' apiserver; ok=3
  fi
  if [[ $mode == node || $mode == cni ]]; then
    if [[ -n $bin && -f $admin_kubeconfig ]] && netns_exists "$cp_netns" && node_ready 2>/dev/null; then
      printf '%-24s %s Ready\n' node "$node_name"
    else
      printf '%-24s %s not Ready\n' node "$node_name"; ok=3
    fi
  fi
  if [[ $mode == node || $mode == cni ]]; then
    if [[ -n $bin && -f $admin_kubeconfig ]] && netns_exists "$cp_netns" && admission_works >/dev/null 2>&1; then
      printf '%-24s ready (the API server admits through it)\n' webhook
    else
      printf '%-24s not ready\n' webhook; ok=3
    fi
  else
    status_replicas || ok=3
  fi
  printf '%-24s %s\n' kubeconfig "$admin_kubeconfig" logs "$logs"
  printf '%-24s %s\n' kubectl "$0 exec kubectl ...   (or: ip netns exec $cp_netns kubectl --kubeconfig $admin_kubeconfig ...)"
  return "$ok"
}

node_mode=false
cni_mode=false
validate_settings
# shellcheck source=testenv/node.sh
source "$repo/scripts/testenv/node.sh"
case ${1:-} in
  up)
    case ${2:-} in
      '') cmd_up ;;
      --node) cmd_up node ;;
      --cni) cmd_up cni ;;
      --api) cmd_up api ;;
      *) die "usage: $0 up [--node|--cni]" ;;
    esac
    ;;
  down) cmd_down ;;
  status) cmd_status ;;
  webhook-stop) cmd_webhook_stop ;;
  webhook-start) cmd_webhook_start ;;
  webhook-scale) cmd_webhook_scale "${2:-}" ;;
  webhook-rollout) cmd_webhook_rollout ;;
  exec) shift; cmd_exec "$@" ;;
  env) cmd_env ;;
  *) echo "usage: $0 up [--node|--cni]|down|status|webhook-stop|webhook-start|webhook-scale N|webhook-rollout|exec CMD...|env" >&2; exit 2 ;;
esac
