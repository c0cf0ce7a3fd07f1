#!/usr/bin/env bash
# Scale benchmark: onboards every town hall of the given provinces on a fresh, dedicated local
# control plane and records how long until all are Ready and what it cost the operator.
#
#   e2e/bench/scale.sh <INE province code>...
#   e2e/bench/scale.sh 24                                  # León: 211 town halls
#   e2e/bench/scale.sh 05 09 24 34 37 40 42 47 49          # Castilla y León: 2,248
#
# It never touches the e2e/demo cluster: its control plane lives in $CONCEJO_CACHE/bench-cluster on
# other ports, starts from an empty etcd and is removed at the end. The operator is the release
# build of this checkout (or $CONCEJO_BIN), copied to $CONCEJO_CACHE/bench/bin and run from there;
# its log and the applied manifests stay in $CONCEJO_CACHE/bench after the run.
#
# Knobs (environment): CONCEJO_BIN (use this binary, no build), CONCEJO_BENCH_TIMEOUT (seconds to
# all Ready, default 1800), CONCEJO_BENCH_IDLE (seconds of the idle phase, default 60),
# CONCEJO_BENCH_KEEP=1 (leave the cluster and the operator up), CONCEJO_BENCH_PORT_BASE (default
# 42000: etcd +379/+380, API +443, controller manager +257, scheduler +259, kwok +247, operator
# +80), CONCEJO_BENCH_ARGS (extra `concejo run` flags), CONCEJO_BENCH_SUITE=1 (every town hall with
# the collaboration suite: volumes bound by the local provisioner, four workloads each, and the
# provinces' office pools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# > 0)) || { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
codes=()
for c in "$@"; do
  [[ $c =~ ^[0-9]{2}$ ]] && grep -q "^$c," operator/data/provinces.csv ||
    die "$c is not a 2-digit INE province code (01-52, e.g. 24 for León)"
  [[ " ${codes[*]} " == *" $c "* ]] || codes+=("$c")
done

cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}
bench=$cache/bench
export CONCEJO_CLUSTER_DIR=$cache/bench-cluster
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
timeout=${CONCEJO_BENCH_TIMEOUT:-1800}
idle=${CONCEJO_BENCH_IDLE:-60}
suite=${CONCEJO_BENCH_SUITE:-}
suite_spec=; suite_flag=; suite_note=
if [[ -n $suite ]]; then
  suite_spec=', storage: {classes: [{name: local-path, encrypted: true}]}, office: {enabled: true}'
  suite_flag=--collaboration
  suite_note=' with the suite'
fi
base=${CONCEJO_BENCH_PORT_BASE:-42000}
export CONCEJO_ETCD_PORT=$((base + 379)) CONCEJO_API_PORT=$((base + 443)) CONCEJO_KCM_PORT=$((base + 257))
export CONCEJO_SCHEDULER_PORT=$((base + 259)) CONCEJO_KWOK_PORT=$((base + 247))
http=127.0.0.1:$((base + 80))
cluster=e2e/cluster/cluster.sh
export KUBECONFIG=$CONCEJO_CLUSTER_DIR/kubeconfig
kubectl=$CONCEJO_CLUSTER_DIR/bin/kubectl
oplog=$bench/concejo.log
manifests=$bench/manifests
mkdir -p "$bench/bin" "$manifests"

# One benchmark at a time on this machine (they share the ports and the folders).
exec 9>"$bench/lock"
flock -n 9 || die "another e2e/bench/scale.sh is running (lock $bench/lock)"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { printf '%s' "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# utime + stime of a process in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
kb_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
metrics() { curl -sf --max-time 10 "http://$http/metrics"; }
# Sum of every series of one counter in a metrics text.
sum_of() { awk -v m="$1" 'index($0, m "{") == 1 || index($0, m " ") == 1 { s += $NF } END { printf "%d", s }' <<<"$2"; }
per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.2f", a / n }'; }

oppid=""
stop_operator() {
  [[ -n $oppid ]] && kill -0 "$oppid" 2>/dev/null || return 0
  kill -TERM "$oppid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$oppid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$oppid" 2>/dev/null && kill -KILL "$oppid" 2>/dev/null || true
  rm -f "$CONCEJO_CLUSTER_DIR/pids/concejo"
}
cleanup() {
  local rc=$?
  if [[ ${CONCEJO_BENCH_KEEP:-} == 1 ]]; then
    log "CONCEJO_BENCH_KEEP=1: operator (pid ${oppid:-none}, $http) and cluster left up;" \
      "stop them with: CONCEJO_CLUSTER_DIR=$CONCEJO_CLUSTER_DIR $cluster down"
  else
    stop_operator
    "$cluster" down 2>&1 | sed 's/^/  /' >&2 || true
  fi
  ((rc == 0)) || log "failed (exit $rc); operator log: $oplog"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the operator binary ------------------------------------------------------------------
if [[ -n ${CONCEJO_BIN:-} ]]; then
  [[ -x $CONCEJO_BIN ]] || die "CONCEJO_BIN=$CONCEJO_BIN is not an executable"
  src=$CONCEJO_BIN
  build="CONCEJO_BIN=$CONCEJO_BIN"
else
  log "building the release operator (cargo build --release -p concejo --bin concejo)"
  t=$SECONDS
  cargo build --release -p concejo --bin concejo
  src=$CARGO_TARGET_DIR/release/concejo
  build="release build of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- operator Cargo.lock Cargo.toml || echo +uncommitted)"
  log "built in $((SECONDS - t))s"
fi
# A copy, so a later cargo build cannot change what is being measured; named `concejo` so that
# `cluster.sh down` also stops it if this script is killed without running its trap.
cp "$src" "$bench/bin/concejo.new" && mv -f "$bench/bin/concejo.new" "$bench/bin/concejo"
concejo=$bench/bin/concejo
binsum=$(sha256sum "$concejo" | cut -c1-12)

# ---- manifests (before the clock starts) ----------------------------------------------------
slug() {
  sed -e 's/[ÁÀ]/A/g; s/á/a/g; s/à/a/g; s/É/E/g; s/é/e/g; s/è/e/g; s/Í/I/g; s/í/i/g; s/ï/i/g' \
    -e 's/Ó/O/g; s/ó/o/g; s/ò/o/g; s/Ú/U/g; s/ú/u/g; s/ü/u/g; s/Ñ/N/g; s/ñ/n/g; s/ç/c/g' <<<"$1" |
    tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//'
}
{
  cat examples/leon/plans.yaml
  for c in "${codes[@]}"; do
    line=$(grep "^$c," operator/data/provinces.csv)
    name=${line#*,}; name=${name%,*}; name=${name//\"/}
    s=$(slug "$name")
    printf -- '---\napiVersion: concejo.dev/v1alpha1\nkind: Province\nmetadata: {name: %s}\n' "$s"
    printf 'spec: {ineCode: "%s", displayName: "Diputación de %s", baseDomain: nube.%s.bench.concejo.dev, defaultPlan: town%s}\n' \
      "$c" "$name" "$s" "$suite_spec"
  done
} >"$manifests/provinces-plans.yaml"
# Names are unique within a province only; a name already taken by another province gets the INE
# code appended, as `concejo generate` does within one.
for c in "${codes[@]}"; do
  line=$(grep "^$c," operator/data/provinces.csv)
  name=${line#*,}; name=${name%,*}
  "$concejo" generate municipalities --province-code "$c" --province "$(slug "${name//\"/}")" $suite_flag
done | awk '
  /^metadata: \{name: / { held = $0; next }
  /^spec: / && held != "" {
    n = held; sub(/^metadata: \{name: /, "", n); sub(/\}$/, "", n)
    if (n in used) { match($0, /ineCode: "[0-9]+"/); n = substr(n, 1, 57) "-" substr($0, RSTART + 10, 5); renamed++ }
    used[n] = 1; print "metadata: {name: " n "}"; held = ""
  }
  { print }
  END { if (renamed) printf "%d names taken by another province got their INE code appended\n", renamed > "/dev/stderr" }
' >"$manifests/municipalities.yaml"
n=$(grep -c '^kind: Municipality$' "$manifests/municipalities.yaml")
log "${#codes[@]} province(s) (${codes[*]}): $n Municipalities; manifests in $manifests"

# ---- a fresh, dedicated control plane -------------------------------------------------------
log "removing what is left of an earlier bench cluster ($CONCEJO_CLUSTER_DIR)"
"$cluster" down 2>&1 | sed 's/^/  /' >&2
for p in "$CONCEJO_ETCD_PORT" $((CONCEJO_ETCD_PORT + 1)) "$CONCEJO_API_PORT" "$CONCEJO_KCM_PORT" \
  "$CONCEJO_SCHEDULER_PORT" "$CONCEJO_KWOK_PORT" "${http##*:}"; do
  listening "$p" && die "port $p is in use; choose other ports with CONCEJO_BENCH_PORT_BASE"
done
if pgrep -x build.sh >/dev/null || pgrep -f e2e/cluster/build.sh >/dev/null; then
  die "e2e/cluster/build.sh is running (building the control plane); run the benchmark when it is done"
fi
log "starting a dedicated control plane in $CONCEJO_CLUSTER_DIR (API on :$CONCEJO_API_PORT)"
"$cluster" up 2>&1 >/dev/null 9>&- | sed 's/^/  /' >&2
"$cluster" status || die "the bench control plane did not come up"

log "installing the CRDs"
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f crds/ >/dev/null
"$kubectl" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f charts/concejo/templates/tenant-roles.yaml >/dev/null

log "starting the operator ($http); its log is $oplog"
# shellcheck disable=SC2086 # CONCEJO_BENCH_ARGS is a list of flags
setsid "$concejo" run --http-addr "$http" --leader-election false ${CONCEJO_BENCH_ARGS:-} \
  >"$oplog" 2>&1 </dev/null 9>&- &
oppid=$!
echo "$oppid" >"$CONCEJO_CLUSTER_DIR/pids/concejo"
for i in $(seq 1 120); do
  curl -sf --max-time 1 "http://$http/readyz" >/dev/null 2>&1 && break
  kill -0 "$oppid" 2>/dev/null || { tail -20 "$oplog" >&2; die "the operator exited"; }
  ((i < 120)) || die "the operator was not ready within 60s"
  sleep 0.5
done

log "applying the ServicePlans and Province(s)"
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f "$manifests/provinces-plans.yaml" >/dev/null

# ---- onboarding ------------------------------------------------------------------------------
others=$(($(pgrep -xc kube-apiserver || true) - 1))
load=$(cut -d' ' -f1-3 /proc/loadavg)
api_pid=$(cat "$CONCEJO_CLUSTER_DIR/pids/kube-apiserver")
etcd_pid=$(cat "$CONCEJO_CLUSTER_DIR/pids/etcd")
cpu0=$(cpu_of "$oppid") api_cpu0=$(cpu_of "$api_pid") etcd_cpu0=$(cpu_of "$etcd_pid")
log "applying $n Municipalities in one kubectl call (load average $load)"
t0=$(now)
"$kubectl" apply --server-side --force-conflicts --field-manager concejo-bench -f "$manifests/municipalities.yaml" >/dev/null
t1=$(now)
apply_s=$(secs "$t0" "$t1")
log "kubectl applied $n Municipalities in ${apply_s}s"

phases() { "$kubectl" get municipalities -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}'; }
# Every 5 s (a list of every Municipality costs the API server too); the time reported is taken
# from the Ready conditions afterwards, so it does not depend on this interval.
while :; do
  ready=$(phases | grep -c '^Ready$' || true)
  el=$(secs "$t0" "$(now)")
  if ((ready >= n)); then
    t2=$(now)
    break
  fi
  log "$ready/$n Ready, ${el}s since the first apply"
  if ((${el%.*} > timeout)); then
    phases | sort | uniq -c | sed 's/^/  /' >&2
    grep -E ' (WARN|ERROR) ' "$oplog" | tail -10 >&2 || true
    die "only $ready of $n Ready after ${timeout}s (CONCEJO_BENCH_TIMEOUT); see $oplog"
  fi
  sleep 5
done
cpu1=$(cpu_of "$oppid")
m1=$(metrics)
printf '%s\n' "$m1" >"$bench/metrics-ready.txt"
api_cpu=$(secs "$api_cpu0" "$(cpu_of "$api_pid")")
etcd_cpu=$(secs "$etcd_cpu0" "$(cpu_of "$etcd_pid")")
polled_s=$(secs "$t0" "$t2")
# The moment the last one turned Ready, from the Ready conditions (1 s resolution, no polling lag).
lastready=$("$kubectl" get municipalities \
  -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.lastTransitionTime}{"\n"}{end}{end}' | sort | tail -1)
ready_s=$(secs "$t0" "$(date -d "$lastready" +%s)")
log "all $n Ready: last Ready at $lastready, ${ready_s}s after the first apply (seen by polling at ${polled_s}s)"

rss=$(kb_of "$oppid" VmRSS)
hwm=$(kb_of "$oppid" VmHWM)
reconciles=$(sum_of concejo_reconciles_total "$m1")
writes=$(sum_of concejo_api_writes_total "$m1")
errors=$(sum_of concejo_reconcile_errors_total "$m1")
log "writes by kind and verb:"
grep '^concejo_api_writes_total{' <<<"$m1" | sed 's/^concejo_api_writes_total/  /' >&2 || true

# ---- idle -----------------------------------------------------------------------------------
log "idle phase: ${idle}s with nothing changing"
sleep "$idle"
m2=$(metrics)
printf '%s\n' "$m2" >"$bench/metrics-idle.txt"
cpu2=$(cpu_of "$oppid")
idle_writes=$(($(sum_of concejo_api_writes_total "$m2") - writes))
idle_reconciles=$(($(sum_of concejo_reconciles_total "$m2") - reconciles))
idle_cpu=$(secs "$cpu1" "$cpu2")
rss_idle=$(kb_of "$oppid" VmRSS)
if ((idle_writes != 0 || idle_reconciles != 0)); then
  log "changes during the idle phase (metrics in $bench/metrics-ready.txt and metrics-idle.txt):"
  awk 'FNR == NR { a[$1] = $NF; next } /^concejo_(api_writes|reconciles)_total/ && $NF != a[$1] { printf "  %s +%d\n", $1, $NF - a[$1] }' \
    "$bench/metrics-ready.txt" "$bench/metrics-idle.txt" >&2
fi
hwm=$(kb_of "$oppid" VmHWM)
warns=$(grep -cE ' WARN ' "$oplog" || true)
errs=$(grep -cE ' ERROR ' "$oplog" || true)
kill -0 "$oppid" 2>/dev/null || die "the operator exited during the run; see $oplog"

# ---- summary --------------------------------------------------------------------------------
date=$(date +%F)
op_cpu=$(secs "$cpu0" "$cpu1")
model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
cat <<EOF

Machine: $(nproc) cores, $model, $mem memory, Linux $(uname -r)
Command: e2e/bench/scale.sh ${codes[*]}   ($date, $build, binary sha256 $binsum)

| date | provinces | N | first apply to all Ready | kubectl apply | operator CPU | RSS / peak | reconciles (per tenant) | API writes (per tenant) | idle ${idle} s: writes, reconciles |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| $date | ${codes[*]}$suite_note | $n | ${ready_s} s | ${apply_s} s | ${op_cpu} s | $(mb "$rss_idle") / $(mb "$hwm") MB | $reconciles ($(per "$reconciles" "$n")) | $writes ($(per "$writes" "$n")) | $idle_writes, $idle_reconciles |

date=$date
build=$build
binary_sha256=$binsum
provinces=${codes[*]}
n=$n
ready_s=$ready_s
ready_polled_s=$polled_s
kubectl_apply_s=$apply_s
operator_cpu_s=$op_cpu
operator_rss_kb=$rss
operator_rss_after_idle_kb=$rss_idle
operator_peak_rss_kb=$hwm
reconciles=$reconciles
reconciles_per_tenant=$(per "$reconciles" "$n")
reconcile_errors=$errors
api_writes=$writes
api_writes_per_tenant=$(per "$writes" "$n")
idle_s=$idle
idle_api_writes=$idle_writes
idle_reconciles=$idle_reconciles
idle_operator_cpu_s=$idle_cpu
apiserver_cpu_s=$api_cpu
etcd_cpu_s=$etcd_cpu
operator_log_warn_lines=$warns
operator_log_error_lines=$errs
load_average_before=$load
other_control_planes=$others
machine=$(nproc) cores, $model, $mem
EOF
((others == 0)) || log "note: $others other kube-apiserver(s) ran on this machine during the run; numbers are noisier"
