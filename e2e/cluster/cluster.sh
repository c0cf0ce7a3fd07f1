#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
# local-path-provisioner, built from Go modules (build.sh) and run as plain processes on 127.0.0.1.
# No root, no containers.
#
#   cluster.sh up        build what is missing, start everything, wait until it works (idempotent)
#   cluster.sh down      stop exactly the processes `up` started, remove the state folder
#   cluster.sh status    exit 0 when the cluster is up and answering
#   cluster.sh kubeconfig  print the admin kubeconfig path
#   cluster.sh audit-log   print the path of the API server's audit log (JSON lines)
#   cluster.sh stop|start|restart etcd|kube-apiserver
#                        stop and/or start one of them again with the same state, data and ports
#                        (the fault tests); the other components stay up and reconnect by themselves
#
# State (PKI, etcd data, logs, PIDs, kubeconfig) lives in $CONCEJO_CLUSTER_DIR,
# by default ~/.cache/concejo/cluster; the admin kubeconfig is $CONCEJO_CLUSTER_DIR/kubeconfig.
# Ports: CONCEJO_ETCD_PORT (and the next one, etcd's peer port), CONCEJO_API_PORT, CONCEJO_KCM_PORT,
# CONCEJO_SCHEDULER_PORT, CONCEJO_KWOK_PORT; local-path-provisioner listens on none.
#
# Auditing (docs/ens.md, "Activity log"): the API server runs with the project's audit policy
# (charts/concejo/files/audit-policy.yaml), writes $CONCEJO_CLUSTER_DIR/logs/audit.log, and sends
# the same events in batches to http://127.0.0.1:$CONCEJO_AUDIT_PORT/audit (default 30280), where
# `concejo run --audit-addr` listens. Nothing needs to listen there: undeliverable batches are
# dropped after a few retries, without holding up any request.
#
# Storage: StorageClasses `local-path` (allowVolumeExpansion: true) and `local-path-fixed` (false), both
# provisioner rancher.io/local-path, WaitForFirstConsumer, reclaimPolicy Delete (local-path/storage.yaml).
# A claim is Bound, with a real PersistentVolume, once a pod using it is scheduled; the volumes' paths
# are folders under $CONCEJO_CLUSTER_DIR/local-path/volumes (nothing is written there: no container runs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}
state=${CONCEJO_CLUSTER_DIR:-$cache/cluster}
kubeconfig=$state/kubeconfig

etcd_port=${CONCEJO_ETCD_PORT:-32379}
etcd_peer_port=$((etcd_port + 1))
api_port=${CONCEJO_API_PORT:-36443}
kcm_port=${CONCEJO_KCM_PORT:-30257}
sched_port=${CONCEJO_SCHEDULER_PORT:-30259}
kwok_port=${CONCEJO_KWOK_PORT:-30247}
audit_port=${CONCEJO_AUDIT_PORT:-30280}
audit_policy=$here/../../charts/concejo/files/audit-policy.yaml
nodes=${CONCEJO_NODES:-3}
# Service IPs and kwok's fake pod IPs: never connected to, but they must not overlap.
service_cidr=10.96.0.0/16
pod_cidr=10.244.0.0/16

# Start order; `down` stops in reverse.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok local-path-provisioner)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_of() { cat "$state/pids/$1" 2>/dev/null || true; }

# True when the PID recorded for a component is alive and still runs that component's binary
# (a recycled PID of an unrelated process is never touched).
alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "/$1 "
}

# True while the started process exists (during start-up its command line may still be the
# shell's, between fork and exec, so only `alive` checks the command line).
running() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

all_alive() {
  local c
  for c in "${components[@]}"; do alive "$c" || return 1; done
}

api_ready() {
  [[ -f $state/pki/ca.crt ]] || return 1
  curl -sf --max-time 2 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" --key "$state/pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1
}

kubectl_() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

# Waits until `check` succeeds; on timeout says which component failed and shows its log.
wait_for() {
  local component=$1 seconds=$2 check=$3 i
  for ((i = 0; i < seconds * 4; i++)); do
    if eval "$check"; then return 0; fi
    if ! running "$component"; then
      log "$component exited during start-up; last lines of $state/logs/$component.log:"
      tail -n 25 "$state/logs/$component.log" >&2 || true
      stop_all
      exit 1
    fi
    sleep 0.25
  done
  log "$component did not become ready within ${seconds}s; last lines of $state/logs/$component.log:"
  tail -n 25 "$state/logs/$component.log" >&2 || true
  stop_all
  exit 1
}

start() {
  local name=$1; shift
  log "starting $name"
  # setsid: the component outlives this script and is not hit by a Ctrl-C in the caller's terminal.
  setsid "$bin/$name" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name"
}

pki() {
  local d=$state/pki
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key"
  openssl req -x509 -new -key "$d/ca.key" -subj "/CN=concejo-local-ca" -days 3650 -out "$d/ca.crt" 2>/dev/null
  sign() { # name subject extensions
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/$1.key"
    openssl req -new -key "$d/$1.key" -subj "$2" -out "$d/$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
      -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1
extendedKeyUsage=serverAuth
keyUsage=digitalSignature"
  sign admin "/O=system:masters/CN=concejo-admin" "extendedKeyUsage=clientAuth
keyUsage=digitalSignature"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  cat >"$kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: concejo-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $state/pki/ca.crt
users:
- name: concejo-admin
  user:
    client-certificate: $state/pki/admin.crt
    client-key: $state/pki/admin.key
contexts:
- name: concejo-local
  context: {cluster: concejo-local, user: concejo-admin}
current-context: concejo-local
KC
}

# The audit webhook backend's kubeconfig: where the API server sends its audit events (concejo's
# POST /audit). Plain HTTP on the loopback; a real cluster uses HTTPS (docs/ens.md).
write_audit_webhook() {
  cat >"$state/audit-webhook.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: concejo-audit
  cluster:
    server: http://127.0.0.1:$audit_port/audit
users:
- name: kube-apiserver
  user: {}
contexts:
- name: concejo-audit
  context: {cluster: concejo-audit, user: kube-apiserver}
current-context: concejo-audit
KC
}

# kwok's stage configs (node initialise and heartbeat, pod ready/complete/delete), taken from the
# pinned kwok module so they match the binary, then the project's own stages from kwok/ here (one that
# completes local-path-provisioner's helper pods).
kwok_config() {
  local dir
  dir=$(cd "$here/../toolchain/kwok" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  [[ -d $dir ]] || (cd "$here/../toolchain/kwok" && go mod download sigs.k8s.io/kwok)
  {
    printf '%s\n' 'apiVersion: config.kwok.x-k8s.io/v1alpha1' 'kind: KwokConfiguration' 'options:' '  nodeLeaseDurationSeconds: 40' '  nodeLeaseParallelism: 4' '  podPlayStageParallelism: 4' '  nodePlayStageParallelism: 4' '  podsOnNodeSyncParallelism: 4'
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      printf -- '---\n'
      # concejo's backup, restore and drill pods (label concejo.dev/run) are never completed by
      # kwok: the e2e tests play their kubelet, writing the termination message a run reports with.
      if [[ $f == pod/fast/pod-complete.yaml ]]; then
        sed "/^      - 'Job'\$/a\\    - key: '.metadata.labels[\"concejo.dev/run\"]'\\n      operator: 'DoesNotExist'" "$dir/kustomize/stage/$f"
      else
        cat "$dir/kustomize/stage/$f"
      fi
    done
    for f in "$here"/kwok/*.yaml; do
      printf -- '---\n'
      cat "$f"
    done
  } >"$state/kwok.yaml"
}

create_nodes() {
  local i manifest=""
  for ((i = 0; i < nodes; i++)); do
    manifest+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: \"0\"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: \"128\", memory: 1Ti, pods: \"1000\"}
  capacity: {cpu: \"128\", memory: 1Ti, pods: \"1000\"}
"
  done
  kubectl_ apply -f - <<<"$manifest" >/dev/null
}

# Dynamic PersistentVolumes: local-path-provisioner as a process, outside the cluster, with its
# namespace, ConfigMap and StorageClasses. For every claim it creates a helper pod (no owner,
# `restartPolicy: Never`) on the claim's node and waits for it to succeed before it creates the PV;
# kwok's stage kwok/pod-complete-restart-never.yaml completes it.
local_path() {
  local dir=$state/local-path
  mkdir -p "$dir/volumes"
  cat >"$dir/config.json" <<JSON
{
  "nodePathMap": [
    {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$dir/volumes"]}
  ]
}
JSON
  kubectl_ apply -f "$here/local-path/storage.yaml" >/dev/null
  kubectl_ -n local-path-storage create configmap local-path-config --dry-run=client -o yaml \
    --from-file=config.json="$dir/config.json" --from-file="$here/local-path/setup" \
    --from-file="$here/local-path/teardown" --from-file="$here/local-path/helperPod.yaml" |
    kubectl_ apply -f - >/dev/null
  # Helper pods run as the namespace's default ServiceAccount. Each claim waits for its helper pod
  # (created, scheduled, completed by kwok): with the default 4 workers, 422 claims (211 tenants
  # with the suite) took minutes, so more run at once.
  wait_for kube-controller-manager 60 "kubectl_ -n local-path-storage get serviceaccount default >/dev/null 2>&1"
  start local-path-provisioner start --kubeconfig "$kubeconfig" --config "$dir/config.json" \
    --namespace local-path-storage --configmap-name local-path-config --service-account-name default \
    --worker-threads "${CONCEJO_PROVISIONER_WORKERS:-32}"
  wait_for local-path-provisioner 30 \
    "grep -q 'Started provisioner controller' '$state/logs/local-path-provisioner.log'"
}

# etcd and the API server, as `up` starts them and `restart` starts them again (same state dir,
# same ports, same data: a restart, not a new cluster).
start_etcd() {
  start etcd --name concejo --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "concejo=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296
  wait_for etcd 30 "curl -sf --max-time 1 http://127.0.0.1:$etcd_port/health >/dev/null"

}

start_apiserver() {
  start kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
    --client-ca-file "$state/pki/ca.crt" --authorization-mode Node,RBAC \
    --service-cluster-ip-range "$service_cidr" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$state/pki/sa.pub" --service-account-signing-key-file "$state/pki/sa.key" \
    --endpoint-reconciler-type none --allow-privileged=true \
    --audit-policy-file "$audit_policy" --audit-log-path "$state/logs/audit.log" --audit-log-format json \
    --audit-log-maxage 7 --audit-log-maxbackup 3 --audit-log-maxsize 100 \
    --audit-webhook-config-file "$state/audit-webhook.kubeconfig" --audit-webhook-mode batch \
    --audit-webhook-batch-max-wait 2s --audit-webhook-initial-backoff 1s
  wait_for kube-apiserver 90 api_ready
}

# Stops one component (SIGTERM, then SIGKILL after 10 s), leaving the rest running.
stop_component() {
  local c=$1 pid
  alive "$c" || die "$c is not running"
  pid=$(pid_of "$c")
  log "stopping $c (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/pids/$c"
}

# `stop|start|restart etcd|kube-apiserver`: for the fault tests (e2e/tests/faults.rs). The other
# components keep running and reconnect by themselves.
component() {
  local verb=$1 c=${2:-}
  [[ $c == etcd || $c == kube-apiserver ]] || die "usage: $0 $verb etcd|kube-apiserver"
  [[ -d $state/pids ]] || die "the cluster is not up"
  bin=$state/bin
  if [[ $verb == stop || $verb == restart ]]; then stop_component "$c"; fi
  if [[ $verb == start || $verb == restart ]]; then
    alive "$c" && die "$c is already running"
    case $c in
      etcd) start_etcd ;;
      kube-apiserver) start_apiserver ;;
    esac
  fi
}

stop_all() {
  local i c pid order=(concejo) # the demo's operator, if `make demo` started one
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do order+=("${components[i]}"); done
  for c in "${order[@]}"; do
    if alive "$c"; then stop_component "$c"; fi
    rm -f "$state/pids/$c"
  done
}

up() {
  if api_ready && all_alive; then
    log "already up"
    echo "$kubeconfig"
    return
  fi
  # Anything left of an earlier, broken start is stopped and wiped first.
  stop_all
  rm -rf "$state"
  mkdir -p "$state/pids" "$state/logs"

  "$here/build.sh"
  bin=$("$here/build.sh" --path)
  # build.sh --path gives one folder per module; make one folder of links for simple use.
  mkdir -p "$state/bin"
  IFS=: read -ra dirs <<<"$bin"
  for d in "${dirs[@]}"; do ln -sf "$d"/* "$state/bin/"; done
  bin=$state/bin

  local started=$SECONDS
  pki
  write_kubeconfig
  write_audit_webhook
  kwok_config

  start_etcd
  start_apiserver

  start kube-controller-manager --kubeconfig "$kubeconfig" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/ca.crt" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --concurrent-namespace-syncs 10 --concurrent-gc-syncs 20
  start kube-scheduler --kubeconfig "$kubeconfig" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$sched_port"
  start kwok --kubeconfig "$kubeconfig" --config "$state/kwok.yaml" --manage-all-nodes=true \
    --cidr "$pod_cidr" --node-ip 127.0.0.1 --node-lease-duration-seconds 40 \
    --server-address "127.0.0.1:$kwok_port"

  wait_for kube-controller-manager 60 \
    "curl -sfk --max-time 1 https://127.0.0.1:$kcm_port/healthz >/dev/null"
  wait_for kube-scheduler 60 "curl -sfk --max-time 1 https://127.0.0.1:$sched_port/healthz >/dev/null"
  create_nodes
  wait_for kwok 60 "[[ \$(kubectl_ get nodes --no-headers 2>/dev/null | grep -cw Ready) -ge $nodes ]]"
  # Pods need the namespace's default ServiceAccount, which the controller manager creates.
  wait_for kube-controller-manager 60 "kubectl_ -n default get serviceaccount default >/dev/null 2>&1"
  local_path

  log "up in $((SECONDS - started))s: $nodes kwok nodes Ready, StorageClasses local-path and local-path-fixed; logs in $state/logs"
  log "use it with: export KUBECONFIG=$kubeconfig"
  echo "$kubeconfig"
}

down() {
  if [[ ! -d $state ]]; then
    log "not running"
    return
  fi
  stop_all
  rm -rf "$state"
  log "stopped and removed $state"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) api_ready && all_alive ;;
  kubeconfig) echo "$kubeconfig" ;;
  audit-log) echo "$state/logs/audit.log" ;;
  stop | start | restart) component "$@" ;;
  *) echo "usage: $0 up|down|status|kubeconfig|audit-log|stop|start|restart <etcd|kube-apiserver>" >&2; exit 2 ;;
esac
