#!/usr/bin/env bash
# A real Kubernetes control plane for siding's end-to-end tests, without Docker:
# etcd, kube-apiserver and kube-controller-manager as plain processes, and
# siding's webhook (the current dist/ build), one or two replicas, each in a network
# namespace of its own that stands in for one of the Deployment's pods (there is no
# kubelet, so those stay Pending).
#
#   scripts/kube-testenv.sh up       start or repair everything; last line = kubeconfig path
#   scripts/kube-testenv.sh down     stop every process it started, remove netns, veth, state
#   scripts/kube-testenv.sh status   report; exit 0 when everything is up, 3 otherwise
#   scripts/kube-testenv.sh webhook-stop    stop every webhook replica (the e2e tests' outage)
#   scripts/kube-testenv.sh webhook-start   start the replicas again; returns once the API
#                                           server admits through the webhook
#   scripts/kube-testenv.sh webhook-scale N run N replicas (1 or 2): a new one becomes an
#                                           endpoint once it serves; one going away stops
#                                           being an endpoint, then gets SIGTERM and drains
#   scripts/kube-testenv.sh webhook-rollout restart the running replicas one by one, as a
#                                           Deployment rollout does: endpoint removed,
#                                           pre-stop wait, SIGTERM, drain, new process,
#                                           endpoint added once it serves
#
# Needs root (network namespace, veth), Go for the first build (scripts/build-kube.sh),
# Node 24 (scripts/install-node.sh), etcd (Debian's etcd-server), openssl, curl, and a built dist/ (npm run build).
#
# Network: nothing listens beyond loopback and the testenv's own veth (defaults):
#   etcd                     127.0.0.1:12379 (peer 12380), plain HTTP
#   kube-apiserver           10.250.99.1:6443, the host end of the veth (also how the
#                            host reaches it, so one address serves both sides)
#   kube-controller-manager  127.0.0.1:10257 (health only)
#   siding webhook           10.250.99.2:9443 inside netns siding-webhook (replica 1)
#                            10.250.99.6:9443 inside netns siding-webhook-2 (replica 2)
# The API server reaches the webhook through the siding Service: with
# --enable-aggregator-routing=true it resolves the Service to a ready endpoint of the
# EndpointSlice this script writes (the replicas' netns addresses), never to a
# ClusterIP (no kube-proxy here).
#
# Settings (environment):
#   SIDING_TESTENV_DIR      state, logs, pid files, kubeconfigs   (/tmp/siding-testenv)
#   SIDING_TESTENV_CERTS    manage: the webhook runs with --manage-certs, as the manifests
#                           run it; static: `siding certs generate` (or openssl) makes the
#                           serving cert and this script patches the caBundle   (manage)
#   SIDING_TESTENV_CA_OVERLAP / SIDING_TESTENV_CERT_CHECK_INTERVAL   manage mode: the
#                           webhook's --ca-overlap / --cert-check-interval, short so that
#                           a CA rotation completes within a test       (4s / 1s)
#   SIDING_TESTENV_NETNS    network namespace name                (siding-webhook)
#   SIDING_TESTENV_VETH     host-side veth name, <= 11 chars      (sdtenv0)
#   SIDING_TESTENV_HOST_IP / SIDING_TESTENV_NS_IP   the /30 pair  (10.250.99.1 / .2)
#   SIDING_TESTENV_WEBHOOK_REPLICAS  replicas up and webhook-start run, 1 or 2   (1)
#   SIDING_TESTENV_NETNS2 / SIDING_TESTENV_VETH2    replica 2's netns and veth
#                                                   (${NETNS}2 / ${VETH}b)
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
#   SIDING_TESTENV_KCM_PORT (10257)       SIDING_TESTENV_WEBHOOK_PORT (9443)
#   SIDING_TESTENV_TIMEOUT  seconds to wait for each component    (120)
#   SIDING_ETCD             etcd binary                           (etcd on PATH)
#   SIDING_CACHE            where scripts/build-kube.sh caches    (/var/cache/siding)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${SIDING_TESTENV_DIR:-/tmp/siding-testenv}
certs_mode=${SIDING_TESTENV_CERTS:-manage}
ca_overlap=${SIDING_TESTENV_CA_OVERLAP:-4s}
cert_check_interval=${SIDING_TESTENV_CERT_CHECK_INTERVAL:-1s}
netns=${SIDING_TESTENV_NETNS:-siding-webhook}
veth_host=${SIDING_TESTENV_VETH:-sdtenv0}
host_ip=${SIDING_TESTENV_HOST_IP:-10.250.99.1}
ns_ip=${SIDING_TESTENV_NS_IP:-10.250.99.2}
apiserver_port=${SIDING_TESTENV_APISERVER_PORT:-6443}
etcd_port=${SIDING_TESTENV_ETCD_PORT:-12379}
etcd_peer_port=$((etcd_port + 1))
kcm_port=${SIDING_TESTENV_KCM_PORT:-10257}
webhook_port=${SIDING_TESTENV_WEBHOOK_PORT:-9443}
replicas=${SIDING_TESTENV_WEBHOOK_REPLICAS:-1}
netns2=${SIDING_TESTENV_NETNS2:-${netns}2}
veth2_host=${SIDING_TESTENV_VETH2:-${veth_host}b}
host_ip2=${SIDING_TESTENV_HOST_IP2:-10.250.99.5}
ns_ip2=${SIDING_TESTENV_NS_IP2:-10.250.99.6}
prestop=${SIDING_TESTENV_PRESTOP:-2}
grace=${SIDING_TESTENV_GRACE:-30}
endpoint_lag=${SIDING_TESTENV_ENDPOINT_LAG:-0}
timeout=${SIDING_TESTENV_TIMEOUT:-120}
# The heap flags every launch of the webhook passes to node, as the Deployment does; the
# list and the reason live in src/admission/node-flags.ts (a unit test keeps them in step).
webhook_node_flags=(--max-semi-space-size=8 --heap-growing-percent=50)
# ClusterIPs are allocated from here but never routed (no kube-proxy); the first
# address is the `kubernetes` Service, which the apiserver certificate names.
service_cidr=10.250.100.0/24
service_first_ip=10.250.100.1

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
  [[ $veth_host =~ ^[a-z][a-z0-9]{0,10}$ ]] || die "SIDING_TESTENV_VETH '$veth_host' must be <= 11 lowercase letters/digits"
  [[ $host_ip =~ $ipv4 && $ns_ip =~ $ipv4 ]] || die "SIDING_TESTENV_HOST_IP/NS_IP must be IPv4 addresses"
  [[ $replicas =~ ^[12]$ ]] || die "SIDING_TESTENV_WEBHOOK_REPLICAS must be 1 or 2, got '$replicas'"
  [[ $netns2 =~ $name && $netns2 != "$netns" ]] || die "SIDING_TESTENV_NETNS2 '$netns2' must match $name and differ from SIDING_TESTENV_NETNS"
  [[ $veth2_host =~ ^[a-z][a-z0-9]{0,10}$ && $veth2_host != "$veth_host" ]] ||
    die "SIDING_TESTENV_VETH2 '$veth2_host' must be <= 11 lowercase letters/digits and differ from SIDING_TESTENV_VETH"
  [[ $host_ip2 =~ $ipv4 && $ns_ip2 =~ $ipv4 ]] || die "SIDING_TESTENV_HOST_IP2/NS_IP2 must be IPv4 addresses"
  [[ $prestop =~ ^[0-9]{1,3}$ ]] || die "SIDING_TESTENV_PRESTOP must be a number of seconds, got '$prestop'"
  [[ $grace =~ ^[1-9][0-9]{0,3}$ ]] || die "SIDING_TESTENV_GRACE must be a positive number of seconds, got '$grace'"
  [[ $endpoint_lag =~ ^[0-9]{1,3}$ ]] || die "SIDING_TESTENV_ENDPOINT_LAG must be a number of seconds, got '$endpoint_lag'"
  local p
  for p in "$apiserver_port" "$etcd_port" "$kcm_port" "$webhook_port"; do
    [[ $p =~ $port ]] && ((p <= 65535)) || die "invalid port '$p'"
  done
  [[ $timeout =~ ^[1-9][0-9]*$ ]] || die "SIDING_TESTENV_TIMEOUT must be a positive integer"
  [[ $state == /* ]] || die "SIDING_TESTENV_DIR must be an absolute path"
  case $state in "$repo"|"$repo"/*) die "SIDING_TESTENV_DIR must be outside the clone" ;; esac
}

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespace and veth)"; }

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
}

kc() { "$kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

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
subjectAltName=IP:$host_ip,IP:127.0.0.1,IP:$service_first_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
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

# Replica r (1 or 2) of the webhook: its process name (pid file, log), network
# namespace, veth and /30 pair. Replica 1 keeps the names of the single-replica
# testenv (process `webhook`, logs/webhook.log).
replica_proc() { if (($1 == 1)); then echo webhook; else echo "webhook-$1"; fi; }
replica_netns() { if (($1 == 1)); then echo "$netns"; else echo "$netns2"; fi; }
replica_veth() { if (($1 == 1)); then echo "$veth_host"; else echo "$veth2_host"; fi; }
replica_host_ip() { if (($1 == 1)); then echo "$host_ip"; else echo "$host_ip2"; fi; }
replica_ip() { if (($1 == 1)); then echo "$ns_ip"; else echo "$ns_ip2"; fi; }

netns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }

make_network() { # replica
  local r=$1 ns veth hip nip
  ns=$(replica_netns "$r") veth=$(replica_veth "$r") hip=$(replica_host_ip "$r") nip=$(replica_ip "$r")
  netns_exists "$ns" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name "${veth}n" netns "$ns"
  fi
  ip addr replace "$hip/30" dev "$veth"
  ip link set "$veth" up
  ip -n "$ns" addr replace "$nip/30" dev "${veth}n"
  ip -n "$ns" link set "${veth}n" up
  ip -n "$ns" link set lo up
  # The API server listens on replica 1's host address only; the other replicas reach
  # it through their own veth (a route inside their namespace, nothing on the host).
  if [[ $hip != "$host_ip" ]]; then
    ip -n "$ns" route replace "$host_ip/32" via "$hip" dev "${veth}n"
  fi
}

remove_network() { # replica
  local r=$1 ns veth
  ns=$(replica_netns "$r") veth=$(replica_veth "$r")
  if ip link show "$veth" >/dev/null 2>&1; then
    ip link del "$veth" # removes the peer too
    say "removed veth $veth"
  fi
  if netns_exists "$ns"; then
    ip netns del "$ns"
    say "removed netns $ns"
  fi
}

# ---------------------------------------------------------------------------
# Control plane

start_etcd() {
  running etcd && return 0
  mkdir -p "$state/etcd"
  chmod 0700 "$state/etcd"
  start_bg etcd "$etcd_bin" \
    --name siding-testenv \
    --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "siding-testenv=http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster-state new
  wait_for etcd curl -fsS "http://127.0.0.1:$etcd_port/health"
}

start_apiserver() {
  running kube-apiserver && return 0
  mkdir -p "$state/apiserver"
  start_bg kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --etcd-prefix /registry \
    --bind-address "$host_ip" \
    --advertise-address "$host_ip" \
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
    --enable-aggregator-routing=true \
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
  start_bg kube-controller-manager "$bin/kube-controller-manager" \
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
    --controllers '*,-endpoint' \
    --leader-elect=false \
    --profiling=false \
    --v=1
  wait_for kube-controller-manager curl -fsSk "https://127.0.0.1:$kcm_port/healthz"
  # The ServiceAccount controller is running once `default` has its ServiceAccount
  # (pods cannot be created in a namespace without one).
  wait_for "the default ServiceAccount" kc -n default get serviceaccount default
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
      server: https://$host_ip:$apiserver_port
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
  curl -fsS --max-time 2 --cacert "$1" --resolve "$service.$sys_ns.svc:$webhook_port:$(replica_ip "$2")" \
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
      say "webhook log tail:"
      tail -n 20 "$logs/webhook.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
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
    make_network "$r"
    grep -q "^$r " "$(endpoints_file)" 2>/dev/null || endpoint_set "$r" ready
  done
  write_endpoints
  for r in $(wanted_replicas); do start_webhook "$r"; done
  # shellcheck disable=SC2046 # one replica number per word
  wait_for_webhook $(wanted_replicas)
}

cmd_up() {
  require_root
  find_binaries
  mkdir -p "$state" "$logs" "$run"
  chmod 0700 "$state"
  make_pki
  write_kubeconfig "$admin_kubeconfig" siding-testenv-admin "$pki/admin.crt" "$pki/admin.key" \
    "https://$host_ip:$apiserver_port"
  write_kubeconfig "$state/kube-controller-manager.kubeconfig" system:kube-controller-manager \
    "$pki/kube-controller-manager.crt" "$pki/kube-controller-manager.key" "https://$host_ip:$apiserver_port"
  make_network 1
  start_etcd
  start_apiserver
  start_controller_manager
  apply_manifests
  if [[ $certs_mode == static ]]; then
    # Every time, not only when the webhook starts: cheap, and repairs a caBundle
    # that a test (or a re-created configuration) changed.
    make_static_serving_cert
    patch_ca_bundle
  fi
  start_replicas
  say "up: etcd, kube-apiserver (https://$host_ip:$apiserver_port), kube-controller-manager, webhook ($certs_mode certs, $replicas replica(s)) in netns $netns at $ns_ip:$webhook_port$( ((replicas == 2)) && echo " and $netns2 at $ns_ip2:$webhook_port")"
  echo "$admin_kubeconfig"
}

# For the e2e tests' outage: every replica stops, the endpoints stay as they are (the
# API server keeps calling them and fails), the rest of the environment keeps running.
cmd_webhook_stop() {
  require_root
  local r
  for r in 1 2; do stop_proc "$(replica_proc "$r")" "$grace"; done
}

cmd_webhook_start() {
  require_root
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  start_replicas
  say "webhook serving ($certs_mode certs, $replicas replica(s))"
}

cmd_webhook_scale() { # count
  require_root
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  local n=${1:-} r
  [[ $n =~ ^[12]$ ]] || die "webhook-scale takes 1 or 2 replicas, got '$n'"
  for ((r = 1; r <= n; r++)); do
    running "$(replica_proc "$r")" && continue
    make_network "$r"
    start_webhook "$r"
    wait_replica_ready "$r"
    endpoint_set "$r" ready
    say "replica $r ($(replica_proc "$r")) serving at $(replica_ip "$r"):$webhook_port and an endpoint"
  done
  for ((r = n + 1; r <= 2; r++)); do
    if running "$(replica_proc "$r")" || grep -q "^$r " "$(endpoints_file)" 2>/dev/null; then
      retire_replica "$r"
      remove_network "$r"
      say "replica $r retired"
    fi
  done
  # shellcheck disable=SC2046 # one replica number per word
  wait_for_webhook $(seq 1 "$n")
}

cmd_webhook_rollout() {
  require_root
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
  for name in webhook webhook-2 kube-controller-manager kube-apiserver etcd; do
    stop_proc "$name"
  done
  remove_network 1
  remove_network 2
  if [[ -d $state ]]; then
    # Keep the logs of the last run for post-mortems; everything else goes.
    find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
    say "removed state in $state (logs kept in $logs)"
  fi
}

cmd_status() {
  local ok=0 name pid r proc
  for name in etcd kube-apiserver kube-controller-manager; do
    if pid=$(pid_of "$name"); then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s stopped\n' "$name"; ok=3
    fi
  done
  bin=$("$repo/scripts/build-kube.sh" --check 2>/dev/null | tail -n 1) || bin=""
  kubectl="$bin/kubectl"
  local api=false
  if [[ -n $bin && -f $admin_kubeconfig ]] && kc get --raw /readyz >/dev/null 2>&1; then
    printf '%-24s ready\n' apiserver
    api=true
  else
    printf '%-24s not ready\n' apiserver; ok=3
  fi
  # Replicas 1 .. SIDING_TESTENV_WEBHOOK_REPLICAS must run; a second one started by
  # webhook-scale is reported too. Ready means: serving /readyz with a certificate the
  # webhook's caBundle trusts.
  for r in 1 2; do
    proc=$(replica_proc "$r")
    if ((r > replicas)) && ! running "$proc" && ! netns_exists "$(replica_netns "$r")"; then continue; fi
    if pid=$(pid_of "$proc"); then
      printf '%-24s running (pid %s)\n' "$proc" "$pid"
    else
      printf '%-24s stopped\n' "$proc"; ((r > replicas)) || ok=3
    fi
    if netns_exists "$(replica_netns "$r")" && ip link show "$(replica_veth "$r")" >/dev/null 2>&1; then
      printf '%-24s netns %s, veth %s (%s) <-> %sn (%s)\n' "  network" "$(replica_netns "$r")" \
        "$(replica_veth "$r")" "$(replica_host_ip "$r")" "$(replica_veth "$r")" "$(replica_ip "$r")"
    else
      printf '%-24s missing\n' "  network"; ((r > replicas)) || ok=3
    fi
    if $api && replica_ready "$r"; then
      printf '%-24s ready\n' "  readiness"
    elif curl -fsSk --max-time 2 "https://$(replica_ip "$r"):$webhook_port/readyz" >/dev/null 2>&1; then
      printf '%-24s serving, but not with a certificate the caBundle trusts\n' "  readiness"; ((r > replicas)) || ok=3
    else
      printf '%-24s not ready\n' "  readiness"; ((r > replicas)) || ok=3
    fi
  done
  if [[ -f $(endpoints_file) ]]; then
    printf '%-24s %s\n' endpoints "$(awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}' "$(endpoints_file)")"
  fi
  printf '%-24s %s\n' kubeconfig "$admin_kubeconfig" logs "$logs"
  return "$ok"
}

validate_settings
case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  webhook-stop) cmd_webhook_stop ;;
  webhook-start) cmd_webhook_start ;;
  webhook-scale) cmd_webhook_scale "${2:-}" ;;
  webhook-rollout) cmd_webhook_rollout ;;
  *) echo "usage: $0 up|down|status|webhook-stop|webhook-start|webhook-scale N|webhook-rollout" >&2; exit 2 ;;
esac
