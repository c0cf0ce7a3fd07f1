#!/usr/bin/env bash
# `make demo`: on the local control plane (already up), install the CRDs, start the operator in the
# background, onboard the examples and show the town halls Ready. `demo.sh stop` stops the operator.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}
state=${CONCEJO_CLUSTER_DIR:-$cache/cluster}
export KUBECONFIG=$state/kubeconfig
kubectl=$state/bin/kubectl
concejo=${CONCEJO_BIN:-${CARGO_TARGET_DIR:-$cache/target}/debug/concejo}
http=${CONCEJO_DEMO_HTTP:-127.0.0.1:8080}
pidfile=$state/pids/concejo
log() { printf '[demo %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [[ ${1:-} == stop ]]; then
  if running; then
    kill -TERM "$(cat "$pidfile")"
    rm -f "$pidfile"
    log "operator stopped"
  else
    log "the demo's operator is not running"
  fi
  exit 0
fi

[[ -f $KUBECONFIG ]] || { log "the local control plane is not up: run make cluster-up"; exit 1; }

log "installing the CRDs from crds/"
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -f crds/ >/dev/null
"$kubectl" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
log "installing the tenant roles (ClusterRoles bound in every tenant namespace)"
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -f charts/concejo/templates/tenant-roles.yaml >/dev/null

if running; then
  log "operator already running (pid $(cat "$pidfile"))"
else
  log "starting the operator; its log is $state/logs/concejo.log"
  # --audit-addr: the local API server sends its audit events there (e2e/cluster/cluster.sh), which
  # is how concejo knows auditing is in force (ENS op.exp.8, docs/ens.md).
  setsid "$concejo" run --http-addr "$http" --audit-addr "127.0.0.1:${CONCEJO_AUDIT_PORT:-30280}" \
    >"$state/logs/concejo.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    curl -sf "http://$http/readyz" >/dev/null 2>&1 && break
    running || { log "the operator exited; last lines of its log:"; tail -20 "$state/logs/concejo.log" >&2; exit 1; }
    sleep 0.5
  done
fi

# The classes examples/leon/province.yaml offers. On a real cluster they come from the storage
# driver (encrypted at rest or not); here the local provisioner backs both.
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: cifrado-ssd}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: estandar-hdd}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
YAML

# The bucket's credentials that examples/leon/province.yaml names, in the operator's namespace
# (here "default"). On a real cluster they are the Diputación's S3 keys; here nothing reaches a
# bucket (kwok runs no containers), so placeholders do.
"$kubectl" -n default create secret generic backup-s3 --dry-run=client -o yaml \
  --from-literal=AWS_ACCESS_KEY_ID=demo --from-literal=AWS_SECRET_ACCESS_KEY=demo-not-a-real-key |
  "$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -f - >/dev/null

log "onboarding the examples in examples/: Provinces and ServicePlans first, then the town halls"
onboard=$SECONDS
for kind in Province ServicePlan; do
  grep -l "^kind: $kind" -R examples/ | xargs -I{} "$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -f {} >/dev/null
done
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-demo -R -f examples/ >/dev/null
log "applied in $((SECONDS - onboard))s"
total=$("$kubectl" get municipalities --no-headers | wc -l)
start=$SECONDS
while :; do
  ready=$("$kubectl" get municipalities -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Ready$' || true)
  log "$ready of $total municipalities Ready ($((SECONDS - onboard))s since the first apply)"
  ((ready == total)) && break
  if ((SECONDS - start > 600)); then
    log "not all Ready after 10 minutes; see $state/logs/concejo.log and kubectl describe municipalities"
    exit 1
  fi
  sleep 2
done

"$kubectl" get provinces -o wide
log "León's office pool (Collabora Online), open to the hosts of its town halls with the suite:"
"$kubectl" get province leon -o jsonpath='{.status.office}{"\n"}'
"$kubectl" -n concejo-office-24 get deployments,services,ingresses
"$kubectl" get serviceplans
"$kubectl" get municipalities | sed -n 1,8p
echo "... ($total in all: $kubectl get municipalities)"
log "ENS compliance (concejo report ens): per town hall and measure; the last line is the province's"
for _ in $(seq 1 30); do
  compliant=$("$concejo" report ens --province leon | tail -1)
  [[ $compliant == *"$total of $total"* ]] && break
  sleep 2
done
echo "$compliant"
pid=$(cat "$pidfile")
log "the operator (pid $pid) uses $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$pid/status") of memory"
cat <<TXT

All $total town halls are Ready. Look around with:
  export KUBECONFIG=$KUBECONFIG
  $kubectl get concejo                        # every concejo object
  $kubectl describe municipality astorga      # conditions and events of one tenant
  $kubectl -n muni-24008 get pods,pvc,ingress # Astorga's suite: Nextcloud, PostgreSQL, Redis
  $kubectl get namespaces -l app.kubernetes.io/managed-by=concejo
  curl -s http://$http/metrics               # the operator's metrics
  $kubectl describe province leon                        # its conditions: CA, office pool, BackupTargetReady
  $kubectl -n muni-24008 get cronjob backup              # Astorga's nightly backup, Madrid time
  echo '{"apiVersion":"concejo.dev/v1alpha1","kind":"Backup","metadata":{"name":"now"},"spec":{}}' | $kubectl -n muni-24008 create -f -
                                                         # a backup now: its Job stays Running here (kwok runs no containers)
Stop the operator with 'make demo-stop', and everything with 'make cluster-down'.
TXT
