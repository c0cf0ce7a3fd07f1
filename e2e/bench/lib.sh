# shellcheck shell=bash
# shellcheck disable=SC2154 # the variables are scale.sh's
# Helpers of e2e/bench/scale.sh: logging, clocks, /proc, the dedicated control plane, the operator,
# /metrics scrapes and the results file. Sourced; expects the variables scale.sh sets (bench,
# results, cluster, kubectl, concejo, harness, http, n, CONCEJO_CLUSTER_DIR and the ports).

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { printf '%s' "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# utime + stime of a process in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
kb_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.2f", a / n }'; }
# Sum of every series of one counter in a metrics text.
sum_of() { awk -v m="$1" 'index($0, m "{") == 1 || index($0, m " ") == 1 { s += $NF } END { printf "%d", s }' <<<"$2"; }

# One figure of the run: a `key=value` line of results.env (the report reads them all).
put() { printf '%s=%s\n' "$1" "$2" >>"$results/results.env"; }
get() { awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$results/results.env"; }

# ---- /metrics ---------------------------------------------------------------------------------
op_metrics() { curl -sf --max-time 10 "http://$http/metrics"; }
# The API server's and etcd's /metrics, saved as $results/{api,etcd}-<label>.txt. The admin
# certificate may read the API server's; etcd serves its own on the client port.
scrape() {
  local pki=$CONCEJO_CLUSTER_DIR/pki
  curl -sf --max-time 60 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$CONCEJO_API_PORT/metrics" >"$results/api-$1.txt" || die "cannot read the API server's /metrics"
  curl -sf --max-time 60 "http://127.0.0.1:$CONCEJO_ETCD_PORT/metrics" >"$results/etcd-$1.txt" ||
    die "cannot read etcd's /metrics"
}
# The control plane's figures between two scrapes, as <prefix>_* results.
control() {
  "$harness" control --prefix "$1" --tenants "$n" --apiserver "$results/api-$2.txt" "$results/api-$3.txt" \
    --etcd "$results/etcd-$2.txt" "$results/etcd-$3.txt" >>"$results/results.env"
}

# ---- background helpers, their PIDs in the cluster's pids/ folder so the sampler sees them ---------
sampler=""
start_sampler() {
  "$harness" sample --pids "$CONCEJO_CLUSTER_DIR/pids" --out "$results/proc-$1.tsv" &
  sampler=$!
}
stop_sampler() {
  [[ -n $sampler ]] || return 0
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sampler=""
}
watcher=""
# Watches the Municipalities until all n are Ready; the series goes to $results/ready-<label>.tsv.
start_watcher() {
  "$harness" ready --label "$1" --tenants "$n" --timeout "$timeout" --out "$results/ready-$1.tsv" >>"$results/results.env" &
  watcher=$!
  echo "$watcher" >"$CONCEJO_CLUSTER_DIR/pids/bench-watch"
}
# Waits for the watcher; its exit status says whether all were Ready in time.
wait_watcher() {
  local rc=0
  wait "$watcher" || rc=$?
  rm -f "$CONCEJO_CLUSTER_DIR/pids/bench-watch"
  watcher=""
  return "$rc"
}
# Seconds from $2 (unix seconds) to the last line of a series file.
last_of() { secs "$2" "$(sort -n "$1" | tail -1 | cut -f1)"; }
# Waits for the watcher of run $1 (started at $2) and puts <run>_ready_s: the seconds to the last
# tenant Ready or, when the timeout came first, that it was not reached (never an extrapolation).
# Returns 1 when not all were Ready.
ready_or_not() {
  if wait_watcher; then
    put "$1_ready_s" "$(last_of "$results/ready-$1.tsv" "$2")"
    return 0
  fi
  local seen
  seen=$(wc -l <"$results/ready-$1.tsv")
  put "$1_ready_s" "not reached in $timeout s ($seen of $n Ready)"
  log "$1: only $seen of $n Ready within ${timeout}s (CONCEJO_BENCH_TIMEOUT): reported as not reached; see $oplog"
  return 1
}

# kubectl apply of a manifest with kubectl's PID visible to the sampler.
kapply() {
  "$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f "$1" >/dev/null &
  local pid=$! rc=0
  echo "$pid" >"$CONCEJO_CLUSTER_DIR/pids/kubectl"
  wait "$pid" || rc=$?
  rm -f "$CONCEJO_CLUSTER_DIR/pids/kubectl"
  return "$rc"
}

# ---- the control plane ------------------------------------------------------------------------
# A fresh, dedicated control plane with the CRDs, the tenant roles, the plans and the provinces.
fresh_cluster() {
  log "a fresh control plane in $CONCEJO_CLUSTER_DIR (API on :$CONCEJO_API_PORT)"
  "$cluster" down 2>&1 | sed 's/^/  /' >&2
  for p in "$CONCEJO_ETCD_PORT" $((CONCEJO_ETCD_PORT + 1)) "$CONCEJO_API_PORT" "$CONCEJO_KCM_PORT" \
    "$CONCEJO_SCHEDULER_PORT" "$CONCEJO_KWOK_PORT" "${http##*:}"; do
    listening "$p" && die "port $p is in use; choose other ports with CONCEJO_BENCH_PORT_BASE"
  done
  if pgrep -x build.sh >/dev/null || pgrep -f e2e/cluster/build.sh >/dev/null; then
    die "e2e/cluster/build.sh is running (building the control plane); run the benchmark when it is done"
  fi
  "$cluster" up 2>&1 >/dev/null 9>&- | sed 's/^/  /' >&2
  "$cluster" status || die "the bench control plane did not come up"
  "$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f crds/ >/dev/null
  "$kubectl" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
  "$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench \
    -f charts/concejo/templates/tenant-roles.yaml >/dev/null
  "$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f "$manifests/provinces-plans.yaml" >/dev/null
}

# ---- the operator -----------------------------------------------------------------------------
oppid=""
start_operator() {
  # --audit-addr: the bench API server's audit webhook (port base + 280) reaches this operator, as in
  # production and `make demo`: its tenants are judged on real evidence of auditing (op.exp.8).
  # shellcheck disable=SC2086 # CONCEJO_BENCH_ARGS is a list of flags
  setsid "$concejo" run --http-addr "$http" --audit-addr "127.0.0.1:$CONCEJO_AUDIT_PORT" --leader-election false \
    $concurrency_flag ${CONCEJO_BENCH_ARGS:-} \
    >>"$oplog" 2>&1 </dev/null 9>&- &
  oppid=$!
  echo "$oppid" >"$CONCEJO_CLUSTER_DIR/pids/concejo"
}
wait_operator_ready() {
  local i
  for i in $(seq 1 240); do
    curl -sf --max-time 1 "http://$http/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$oppid" 2>/dev/null || { tail -20 "$oplog" >&2; die "the operator exited"; }
    ((i < 240)) || die "the operator was not ready within 120s"
    sleep 0.5
  done
}
stop_operator() {
  [[ -n $oppid ]] && kill -0 "$oppid" 2>/dev/null || return 0
  kill -TERM "$oppid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$oppid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$oppid" 2>/dev/null && kill -KILL "$oppid" 2>/dev/null || true
  rm -f "$CONCEJO_CLUSTER_DIR/pids/concejo"
  oppid=""
}
# Waits until the operator has reconciled at least n Municipalities and then nothing more for 5 s
# (its queue is empty); prints the seconds from $1 (unix seconds) to the n-th reconcile's poll.
wait_reconciled() {
  local start=$1 count last=-1 steady=0 reached=""
  while :; do
    count=$(sum_of concejo_reconciles_total "$(op_metrics)")
    [[ -z $reached ]] && ((count >= n)) && reached=$(secs "$start" "$(now)")
    if [[ -n $reached ]]; then
      if ((count == last)); then steady=$((steady + 1)); else steady=0; fi
      ((steady >= 10)) && break
    fi
    last=$count
    (($(printf '%.0f' "$(secs "$start" "$(now)")") < timeout)) || die "fewer than $n reconciles after ${timeout}s"
    sleep 0.5
  done
  printf '%s' "$reached"
}

# Counts of the objects concejo manages, by kind: the floor must make the same set. (`-o name`
# prints page by page: no list of every object held in kubectl's memory.)
managed_objects() {
  "$kubectl" get namespaces,resourcequotas,limitranges,networkpolicies,rolebindings,secrets,validatingadmissionpolicies,validatingadmissionpolicybindings \
    -A -l app.kubernetes.io/managed-by=concejo -o name | cut -d/ -f1 |
    sort | uniq -c | awk '{ printf "%s%s:%s", sep, $2, $1; sep = "," }'
}
