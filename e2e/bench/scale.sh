#!/usr/bin/env bash
# Scale benchmark: onboards every town hall of the given provinces on fresh, dedicated local control
# planes, side by side with the floor, and prints one results row for docs/benchmarks.md.
#
#   e2e/bench/scale.sh <INE province code>...
#   e2e/bench/scale.sh 24                                  # León: 211 town halls
#   e2e/bench/scale.sh 05 09 24 34 37 40 42 47 49          # Castilla y León: 2,248
#   e2e/bench/scale.sh all                                 # Spain, 52 provinces: 8,131
#
# Three runs, each on its own fresh control plane (docs/benchmarks.md says what each figure is):
#   live      the operator runs; every Municipality is applied in one kubectl call; time from that
#             first apply to all Ready; an idle phase; a full resync (operator restarted, nothing
#             changed); spec change -> Ready and deleted NetworkPolicy -> restored, one at a time;
#   standing  every Municipality is in the API before the operator starts; time from its start to
#             all Ready (the same starting point as the floor's);
#   floor     no operator: the bench's floor client (concejo-bench floor) applies exactly the
#             objects concejo makes, with concejo's concurrency, and nothing else.
# It never touches the e2e/demo cluster: its control plane lives in $CONCEJO_CACHE/bench-cluster on
# other ports and is removed after each run. The operator is the release build of this checkout (or
# $CONCEJO_BIN), copied to $CONCEJO_CACHE/bench/bin; logs, manifests, /metrics scrapes and series
# stay in $CONCEJO_CACHE/bench/results/<N>; the figure goes to docs/bench/onboarding-<N>.svg.
#
# Knobs (environment): CONCEJO_BIN (use this binary, no build), CONCEJO_BENCH_RUNS (default
# "live standing floor"), CONCEJO_BENCH_SAMPLES (spec-change and drift samples each, default 100;
# 0 skips them), CONCEJO_BENCH_TIMEOUT (seconds to all Ready, default 3600), CONCEJO_BENCH_IDLE
# (seconds of the idle phase, default 60), CONCEJO_BENCH_CONCURRENCY (operator and floor; default
# concejo's), CONCEJO_BENCH_KEEP=1 (leave the last run's cluster up), CONCEJO_BENCH_PORT_BASE
# (default 42000: etcd +379/+380, API +443, controller manager +257, scheduler +259, kwok +247,
# operator +80, audit webhook +280), CONCEJO_BENCH_ARGS (extra `concejo run` flags),
# CONCEJO_BENCH_PLOT_DIR (default docs/bench), CONCEJO_BENCH_SUITE=1 (every town hall with the
# collaboration suite and backups off; live run only, no samples unless asked).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
# shellcheck source=e2e/bench/lib.sh
source e2e/bench/lib.sh

(($# > 0)) || { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
if [[ $* == all ]]; then
  mapfile -t all < <(tail -n +2 operator/data/provinces.csv | cut -d, -f1)
  set -- "${all[@]}"
fi
codes=()
for c in "$@"; do
  [[ $c =~ ^[0-9]{2}$ ]] && grep -q "^$c," operator/data/provinces.csv ||
    die "$c is not a 2-digit INE province code (01-52, e.g. 24 for León), or 'all'"
  [[ " ${codes[*]} " == *" $c "* ]] || codes+=("$c")
done

cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}
bench=$cache/bench
export CONCEJO_CLUSTER_DIR=$cache/bench-cluster
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
timeout=${CONCEJO_BENCH_TIMEOUT:-3600}
idle=${CONCEJO_BENCH_IDLE:-60}
samples=${CONCEJO_BENCH_SAMPLES:-100}
runs=${CONCEJO_BENCH_RUNS:-live standing floor}
suite=${CONCEJO_BENCH_SUITE:-}
suite_spec=; suite_flag=; tag=
if [[ -n $suite ]]; then
  suite_spec=', storage: {classes: [{name: local-path, encrypted: true}]}, office: {enabled: true}'
  suite_flag=--collaboration
  tag=-suite
  runs=live # the floor builds tenants without the suite only
  samples=${CONCEJO_BENCH_SAMPLES:-0} # a suite does not fit the smaller plan the spec changes move to
fi
concurrency_flag=
[[ -n ${CONCEJO_BENCH_CONCURRENCY:-} ]] && concurrency_flag="--concurrency $CONCEJO_BENCH_CONCURRENCY"
base=${CONCEJO_BENCH_PORT_BASE:-42000}
export CONCEJO_ETCD_PORT=$((base + 379)) CONCEJO_API_PORT=$((base + 443)) CONCEJO_KCM_PORT=$((base + 257))
export CONCEJO_SCHEDULER_PORT=$((base + 259)) CONCEJO_KWOK_PORT=$((base + 247)) CONCEJO_AUDIT_PORT=$((base + 280))
http=127.0.0.1:$((base + 80))
cluster=e2e/cluster/cluster.sh
export KUBECONFIG=$CONCEJO_CLUSTER_DIR/kubeconfig
kubectl=$CONCEJO_CLUSTER_DIR/bin/kubectl
manifests=$bench/manifests
mkdir -p "$bench/bin" "$manifests"

# One benchmark at a time on this machine (they share the ports and the folders).
exec 9>"$bench/lock"
flock -n 9 || die "another e2e/bench/scale.sh is running (lock $bench/lock)"

cleanup() {
  local rc=$?
  stop_sampler
  [[ -z $watcher ]] || kill "$watcher" 2>/dev/null || true
  if [[ ${CONCEJO_BENCH_KEEP:-} == 1 ]]; then
    log "CONCEJO_BENCH_KEEP=1: operator (pid ${oppid:-none}, $http) and cluster left up;" \
      "stop them with: CONCEJO_CLUSTER_DIR=$CONCEJO_CLUSTER_DIR $cluster down"
  else
    stop_operator
    "$cluster" down 2>&1 | sed 's/^/  /' >&2 || true
  fi
  ((rc == 0)) || log "failed (exit $rc); logs and results in ${results:-$bench}"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the binaries -----------------------------------------------------------------------------
t=$SECONDS
if [[ -n ${CONCEJO_BIN:-} ]]; then
  [[ -x $CONCEJO_BIN ]] || die "CONCEJO_BIN=$CONCEJO_BIN is not an executable"
  src=$CONCEJO_BIN
  build="CONCEJO_BIN=$CONCEJO_BIN"
  log "building the bench harness (cargo build --release -p concejo-e2e --bin concejo-bench)"
  cargo build --release -p concejo-e2e --bin concejo-bench
else
  log "building the release operator and the bench harness"
  cargo build --release -p concejo --bin concejo -p concejo-e2e --bin concejo-bench
  src=$CARGO_TARGET_DIR/release/concejo
  build="release build of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- operator Cargo.lock Cargo.toml || echo +uncommitted)"
fi
log "built in $((SECONDS - t))s"
# Copies, so a later cargo build cannot change what is being measured; the operator named
# `concejo` so that `cluster.sh down` also stops it if this script is killed without its trap.
cp "$src" "$bench/bin/concejo.new" && mv -f "$bench/bin/concejo.new" "$bench/bin/concejo"
cp "$CARGO_TARGET_DIR/release/concejo-bench" "$bench/bin/concejo-bench.new"
mv -f "$bench/bin/concejo-bench.new" "$bench/bin/concejo-bench"
concejo=$bench/bin/concejo
harness=$bench/bin/concejo-bench
binsum=$(sha256sum "$concejo" | cut -c1-12)

# ---- manifests (before any clock starts) ----------------------------------------------------
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
' | if [[ -n $suite ]]; then
  # The bench's provinces have no backup target; tenants with volumes would wait for one
  # (BackupReady=False, TargetMissing) and never be Ready: the suite is measured without backups.
  sed 's/collaboration: {enabled: true}}$/collaboration: {enabled: true}, backup: {enabled: false}}/'
else
  cat
fi >"$manifests/municipalities.yaml"
n=$(grep -c '^kind: Municipality$' "$manifests/municipalities.yaml")
log "${#codes[@]} province(s) (${codes[*]}): $n Municipalities; manifests in $manifests"

results=$bench/results/$n$tag
rm -rf "$results" && mkdir -p "$results"
oplog=$results/concejo.log
model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
command="e2e/bench/scale.sh $*"
[[ ${#codes[@]} == 52 ]] && command="e2e/bench/scale.sh all"
put date "$(date +%F)"; put command "$command"; put build "$build"; put binary_sha256 "$binsum"
put provinces "${codes[*]}"; put n "$n"; put variant "${suite:+with the suite}"; put cores "$(nproc)"; put runs "$runs"
put machine "$(nproc) cores, $model, $mem memory, Linux $(uname -r)"
put load_average_before "$(cut -d' ' -f1-3 /proc/loadavg)"
put concurrency "${CONCEJO_BENCH_CONCURRENCY:-default}"

source e2e/bench/runs.sh
for run in $runs; do
  started=$SECONDS
  case $run in
    live) run_live ;;
    standing) run_standing ;;
    floor) run_floor ;;
    *) die "unknown run $run (CONCEJO_BENCH_RUNS: live, standing, floor)" ;;
  esac
  put "${run}_wall_s" $((SECONDS - started))
  log "$run run done in $((SECONDS - started)) s"
done

# ---- results -----------------------------------------------------------------------------------
plot_dir=${CONCEJO_BENCH_PLOT_DIR:-$repo/docs/bench}
mkdir -p "$plot_dir"
echo
"$harness" report --dir "$results" --plot "$plot_dir/onboarding-$n$tag.svg" | tee "$results/report.md"
echo
gzip -f "$results"/api-*.txt "$results"/etcd-*.txt
log "every figure: $results/results.env; the /metrics scrapes (gzipped), series and log next to it"
