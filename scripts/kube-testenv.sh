#!/usr/bin/env bash
# A real Kubernetes control plane for siding's end-to-end tests, without Docker:
# etcd, kube-apiserver and kube-controller-manager as plain processes, and
# siding's webhook (the current dist/ build) in a network namespace that stands in
# for the Deployment's pods (there is no kubelet, so those stay Pending).
#
#   scripts/kube-testenv.sh up       start or repair everything; last line = kubeconfig path
#   scripts/kube-testenv.sh down     stop every process it started, remove netns, veth, state
#   scripts/kube-testenv.sh status   report; exit 0 when everything is up, 3 otherwise
#   scripts/kube-testenv.sh webhook-stop    stop only the webhook (the e2e tests' outage)
#   scripts/kube-testenv.sh webhook-start   start it again; returns once the API server
#                                           admits through it
#
# Needs root (network namespace, veth), Go for the first build (scripts/build-kube.sh),
# Node 24 (scripts/install-node.sh), etcd (Debian's etcd-server), openssl, curl, and a built dist/ (npm run build).
#
# Network: nothing listens beyond loopback and the testenv's own veth (defaults):
#   etcd                     127.0.0.1:12379 (peer 12380), plain HTTP
#   kube-apiserver           10.250.99.1:6443, the host end of the veth (also how the
#                            host reaches it, so one address serves both sides)
#   kube-controller-manager  127.0.0.1:10257 (health only)
#   siding webhook           10.250.99.2:9443 inside netns siding-webhook
# The API server reaches the webhook through the siding Service: with
# --enable-aggregator-routing=true it resolves the Service to the EndpointSlice this
# script writes (the netns address), never to a ClusterIP (no kube-proxy here).
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
veth_ns="${veth_host}n"
host_ip=${SIDING_TESTENV_HOST_IP:-10.250.99.1}
ns_ip=${SIDING_TESTENV_NS_IP:-10.250.99.2}
apiserver_port=${SIDING_TESTENV_APISERVER_PORT:-6443}
etcd_port=${SIDING_TESTENV_ETCD_PORT:-12379}
etcd_peer_port=$((etcd_port + 1))
kcm_port=${SIDING_TESTENV_KCM_PORT:-10257}
webhook_port=${SIDING_TESTENV_WEBHOOK_PORT:-9443}
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

stop_proc() { # name : SIGTERM, wait, SIGKILL
  local name=$1 pid i
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
      say "$name (pid $pid) ignored SIGTERM; killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$run/$name.pid"
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

netns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$netns"; }

make_network() {
  netns_exists || ip netns add "$netns"
  if ! ip link show "$veth_host" >/dev/null 2>&1; then
    ip link add "$veth_host" type veth peer name "$veth_ns" netns "$netns"
  fi
  ip addr replace "$host_ip/30" dev "$veth_host"
  ip link set "$veth_host" up
  ip -n "$netns" addr replace "$ns_ip/30" dev "$veth_ns"
  ip -n "$netns" link set "$veth_ns" up
  ip -n "$netns" link set lo up
}

remove_network() {
  if ip link show "$veth_host" >/dev/null 2>&1; then
    ip link del "$veth_host" # removes the peer too
    say "removed veth $veth_host"
  fi
  if netns_exists; then
    ip netns del "$netns"
    say "removed netns $netns"
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

start_webhook() {
  running webhook && return 0
  # Both modes watch the ConfigMap, as the manifests' Deployment does, so edits reach
  # the running webhook.
  write_webhook_kubeconfig
  local args=(webhook --listen "$ns_ip:$webhook_port" --kubeconfig "$state/webhook.kubeconfig"
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
  start_bg webhook ip netns exec "$netns" "$node_bin" "${webhook_node_flags[@]}" "$repo/dist/cli.js" "${args[@]}"
}

write_endpoints() {
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
  - addresses: ["$ns_ip"]
    conditions:
      ready: true
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
subsets:
  - addresses:
      - ip: $ns_ip
    ports:
      - name: https
        port: $webhook_port
        protocol: TCP
EOF
}

webhook_serving() { curl -fsS --max-time 2 --cacert "$1" --resolve "$service.$sys_ns.svc:$webhook_port:$ns_ip" \
  "https://$service.$sys_ns.svc:$webhook_port/readyz"; }

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
  local deadline=$((SECONDS + timeout)) out
  until out=$(admission_works 2>&1); do
    if ! running webhook; then
      say "the webhook exited; its log:"
      tail -n 20 "$logs/webhook.log" >&2 || true
      return 1
    fi
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
  make_network
  start_etcd
  start_apiserver
  start_controller_manager
  apply_manifests
  write_endpoints
  if [[ $certs_mode == static ]]; then
    # Every time, not only when the webhook starts: cheap, and repairs a caBundle
    # that a test (or a re-created configuration) changed.
    make_static_serving_cert
    patch_ca_bundle
  fi
  start_webhook
  wait_for_webhook
  say "up: etcd, kube-apiserver (https://$host_ip:$apiserver_port), kube-controller-manager, webhook ($certs_mode certs) in netns $netns at $ns_ip:$webhook_port"
  echo "$admin_kubeconfig"
}

# For the e2e tests' outage: the rest of the environment keeps running.
cmd_webhook_stop() {
  require_root
  stop_proc webhook
}

cmd_webhook_start() {
  require_root
  find_binaries
  running kube-apiserver || die "the API server is not running: use up"
  start_webhook
  wait_for_webhook
  say "webhook serving ($certs_mode certs) at $ns_ip:$webhook_port"
}

cmd_down() {
  require_root
  local name
  for name in webhook kube-controller-manager kube-apiserver etcd; do
    stop_proc "$name"
  done
  remove_network
  if [[ -d $state ]]; then
    # Keep the logs of the last run for post-mortems; everything else goes.
    find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
    say "removed state in $state (logs kept in $logs)"
  fi
}

cmd_status() {
  local ok=0 name pid
  for name in etcd kube-apiserver kube-controller-manager webhook; do
    if pid=$(pid_of "$name"); then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s stopped\n' "$name"; ok=3
    fi
  done
  if netns_exists; then printf '%-24s %s\n' netns "$netns"; else printf '%-24s missing\n' netns; ok=3; fi
  if ip link show "$veth_host" >/dev/null 2>&1; then
    printf '%-24s %s (%s) <-> %s (%s)\n' veth "$veth_host" "$host_ip" "$veth_ns" "$ns_ip"
  else
    printf '%-24s missing\n' veth; ok=3
  fi
  bin=$("$repo/scripts/build-kube.sh" --check 2>/dev/null | tail -n 1) || bin=""
  kubectl="$bin/kubectl"
  if [[ -n $bin && -f $admin_kubeconfig ]] && kc get --raw /readyz >/dev/null 2>&1; then
    printf '%-24s ready\n' apiserver
  else
    printf '%-24s not ready\n' apiserver; ok=3
  fi
  # Ready means: serving /readyz with a certificate the webhook's caBundle trusts.
  local ca
  ca=$(mktemp)
  if [[ -n $bin && -f $admin_kubeconfig ]] &&
    kc get mutatingwebhookconfiguration "$webhook_config" \
      -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null | base64 -d >"$ca" 2>/dev/null &&
    [[ -s $ca ]] && webhook_serving "$ca" >/dev/null 2>&1; then
    printf '%-24s ready\n' webhook
  elif curl -fsSk --max-time 2 "https://$ns_ip:$webhook_port/readyz" >/dev/null 2>&1; then
    printf '%-24s serving, but not with a certificate the caBundle trusts\n' webhook; ok=3
  else
    printf '%-24s not ready\n' webhook; ok=3
  fi
  rm -f "$ca"
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
  *) echo "usage: $0 up|down|status|webhook-stop|webhook-start" >&2; exit 2 ;;
esac
