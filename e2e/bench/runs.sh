# shellcheck shell=bash
# shellcheck disable=SC2154 # the variables are scale.sh's
# The three runs of e2e/bench/scale.sh, each on a fresh control plane: live, standing, floor.
# Sourced by scale.sh after lib.sh; every figure goes to $results/results.env with `put`.

# The operator's CPU seconds, memory and log at the end of the live onboarding (after the idle
# phase when there is one).
operator_end() {
  put operator_cpu_end_s "$(cpu_of "$oppid")"
  put operator_rss_end_kb "$(kb_of "$oppid" VmRSS)"
  put operator_hwm_kb "$(kb_of "$oppid" VmHWM)"
  put operator_log_warn_lines "$(grep -cE ' WARN ' "$oplog" || true)"
  put operator_log_error_lines "$(grep -cE ' ERROR ' "$oplog" || true)"
}

# concejo runs; the Municipalities are applied in one kubectl call; then idle, resync, reactions.
run_live() {
  fresh_cluster
  # Other local control planes on the machine (the e2e or demo cluster, idle or not): noise.
  put other_control_planes $(($(pgrep -xc kube-apiserver || true) - 1))
  log "live: starting the operator ($http); its log is $oplog"
  start_operator
  wait_operator_ready
  scrape live0
  local m0 cpu0 t0 t1 lastready
  m0=$(op_metrics)
  cpu0=$(cpu_of "$oppid")
  start_sampler live
  start_watcher live
  log "live: applying $n Municipalities in one kubectl call (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  t0=$(now)
  put live_t0 "$t0"
  kapply "$manifests/municipalities.yaml"
  t1=$(now)
  put live_kubectl_s "$(secs "$t0" "$t1")"
  log "live: kubectl applied $n Municipalities in $(secs "$t0" "$t1")s; waiting for all Ready (one watch)"
  local all=1
  ready_or_not live "$t0" || all=0
  stop_sampler
  local m1
  m1=$(op_metrics)
  printf '%s\n' "$m1" >"$results/operator-live.txt"
  scrape live1
  put live_operator_cpu_s "$(secs "$cpu0" "$(cpu_of "$oppid")")"
  put live_operator_rss_kb "$(kb_of "$oppid" VmRSS)"
  local reconciles writes
  reconciles=$(($(sum_of concejo_reconciles_total "$m1") - $(sum_of concejo_reconciles_total "$m0")))
  writes=$(($(sum_of concejo_api_writes_total "$m1") - $(sum_of concejo_api_writes_total "$m0")))
  put live_reconciles "$reconciles"; put live_reconciles_per_tenant "$(per "$reconciles" "$n")"
  put live_concejo_writes "$writes"; put live_concejo_writes_per_tenant "$(per "$writes" "$n")"
  put live_reconcile_errors "$(sum_of concejo_reconcile_errors_total "$m1")"
  control live live0 live1
  # The same moment from the Ready conditions (1 s resolution), as a cross-check of the watch.
  lastready=$("$kubectl" get municipalities \
    -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.lastTransitionTime}{"\n"}{end}{end}' | sort | tail -1)
  put live_ready_condition_s "$(secs "$t0" "$(date -d "$lastready" +%s)")"
  log "live: all $n Ready $(get live_ready_s)s after the first apply (last Ready condition: $lastready)"
  log "live: concejo's writes by kind and verb (concejo_api_writes_total):"
  grep '^concejo_api_writes_total{' <<<"$m1" | sed 's/^concejo_api_writes_total/  /' >&2 || true
  put objects_live "$(managed_objects)"
  if ((!all)); then
    log "live: not all Ready: no idle phase, resync or samples (they start from every tenant Ready)"
    operator_end
    stop_operator
    return 0
  fi

  log "live: idle phase, ${idle}s with nothing changing"
  # The same window for concejo's counters as for the API server's.
  local mi m2
  scrape idle0
  mi=$(op_metrics)
  sleep "$idle"
  scrape idle1
  m2=$(op_metrics)
  put idle_concejo_writes $(($(sum_of concejo_api_writes_total "$m2") - $(sum_of concejo_api_writes_total "$mi")))
  put idle_reconciles $(($(sum_of concejo_reconciles_total "$m2") - $(sum_of concejo_reconciles_total "$mi")))
  # What concejo still did after the last tenant was Ready and before the idle phase (the
  # Provinces' status, the last Events): part of the onboarding's work, after its clock stopped.
  put after_ready_concejo_writes $(($(sum_of concejo_api_writes_total "$mi") - $(sum_of concejo_api_writes_total "$m1")))
  control idle idle0 idle1
  operator_end

  # A full resync with nothing changed: a restarted operator reconciles every tenant from its
  # caches; it should write nothing (the API server's metrics say it, not only concejo's counter).
  log "live: resync, the operator restarted with nothing changed"
  scrape resync0
  stop_operator
  local t2
  t2=$(now)
  start_operator
  put resync_reconciled_s "$(wait_reconciled "$t2")"
  scrape resync1
  local m3
  m3=$(op_metrics)
  printf '%s\n' "$m3" >"$results/operator-resync.txt"
  put resync_reconciles "$(sum_of concejo_reconciles_total "$m3")"
  put resync_concejo_writes "$(sum_of concejo_api_writes_total "$m3")"
  control resync resync0 resync1
  put resync_operator_cpu_s "$(cpu_of "$oppid")"
  put resync_operator_rss_kb "$(kb_of "$oppid" VmRSS)"
  log "live: resync: $(get resync_reconciles) reconciles in $(get resync_reconciled_s)s;" \
    "writes: concejo $(get resync_concejo_writes), API server $(get resync_api_writes_not_heartbeats) (heartbeats left out)"

  if ((samples > 0)); then
    log "live: $samples spec changes (plan town -> village) and $samples NetworkPolicy deletions, one at a time"
    "$harness" latency --samples "$samples" --out "$results/latency.tsv" >>"$results/results.env"
    log "live: spec change -> Ready p50 $(get spec_p50_ms) ms, p99 $(get spec_p99_ms) ms;" \
      "drift -> restored p50 $(get drift_p50_ms) ms, p99 $(get drift_p99_ms) ms"
  fi
  [[ $runs == *standing* || $runs == *floor* ]] && stop_operator
  return 0
}

# Every Municipality is in the API server before the operator starts: time from its start.
run_standing() {
  fresh_cluster
  local t0 t1
  t0=$(now)
  kapply "$manifests/municipalities.yaml"
  t1=$(now)
  put standing_kubectl_s "$(secs "$t0" "$t1")"
  log "standing: kubectl applied $n Municipalities in $(secs "$t0" "$t1")s with no operator; starting it"
  scrape standing0
  start_sampler standing
  start_watcher standing
  t0=$(now)
  put standing_t0 "$t0"
  start_operator
  local all=1
  ready_or_not standing "$t0" || all=0
  stop_sampler
  scrape standing1
  local m
  m=$(op_metrics)
  put standing_operator_cpu_s "$(cpu_of "$oppid")"
  put standing_operator_rss_kb "$(kb_of "$oppid" VmRSS)"
  put standing_concejo_writes "$(sum_of concejo_api_writes_total "$m")"
  put standing_reconciles "$(sum_of concejo_reconciles_total "$m")"
  control standing standing0 standing1
  ((!all)) || log "standing: all $n Ready $(get standing_ready_s)s after the operator started"
  [[ $runs == *floor* ]] && stop_operator
  return 0
}

# No operator: the floor client applies the same objects, and nothing else.
run_floor() {
  fresh_cluster
  local t0 t1 rc=0
  t0=$(now)
  kapply "$manifests/municipalities.yaml"
  t1=$(now)
  put floor_kubectl_s "$(secs "$t0" "$t1")"
  log "floor: kubectl applied $n Municipalities in $(secs "$t0" "$t1")s; the floor client starts"
  scrape floor0
  start_sampler floor
  # shellcheck disable=SC2086 # the flag and its value
  "$harness" floor ${CONCEJO_BENCH_CONCURRENCY:+--concurrency $CONCEJO_BENCH_CONCURRENCY} \
    --out "$results/floor.tsv" >>"$results/results.env" &
  local pid=$!
  echo "$pid" >"$CONCEJO_CLUSTER_DIR/pids/floor"
  wait "$pid" || rc=$?
  rm -f "$CONCEJO_CLUSTER_DIR/pids/floor"
  stop_sampler
  ((rc == 0)) || die "the floor client failed"
  scrape floor1
  control floor floor0 floor1
  put objects_floor "$(managed_objects)"
  log "floor: $(get floor_tenants) tenants, $(get floor_objects) objects applied in $(get floor_s)s"
  local live
  live=$(get objects_live)
  if [[ -n $live && $live != "$(get objects_floor)" ]]; then
    log "warning: the floor made other objects than concejo: concejo $live, floor $(get objects_floor)"
  fi
  return 0
}
