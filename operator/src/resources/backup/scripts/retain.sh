# concejo: retention after a backup, from the province's side, with credentials no tenant holds:
# forget exactly the snapshots the operator chose among those concejo's own backups made (never by
# the dates and tags in the repository, which a tenant can forge), prune, check; then the copy to
# the secondary target, where the copies of the same snapshots are forgotten. See docs/backups.md.
# Environment: RESTIC_* for the province-side server and the tenant's key, TENANT, SNAPSHOT (the
# backup that triggered this run), FORGET (snapshot ids separated by spaces; empty: none), and,
# for the copy, SECONDARY_REPOSITORY with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (restic's s3 backend).
set -eu
say() { echo "concejo-retain: $*" >&2; }
fail() { say "$*"; echo "concejo-retain failed: $*" >>"$REPORT"; exit 1; }
: >"$REPORT"
FORGET=${FORGET:-}

# Snapshot ids only (8 to 64 hex digits): nothing restic could read as a flag or a pattern.
for id in $FORGET; do
  case $id in *[!0-9a-f]*) fail "FORGET holds \"$id\", which is no snapshot id" ;; esac
  [ ${#id} -ge 8 ] && [ ${#id} -le 64 ] || fail "FORGET holds \"$id\", which is no snapshot id"
done

# "<id> <original>" for each snapshot of repository $2 (original: the id it was copied from, "-"
# for none), into file $1. restic prints one JSON array whose objects start with "time"; a quote
# inside a value is escaped, so no path or tag can fake a field.
list_snapshots() {
  RESTIC_REPOSITORY=$2 restic snapshots --json >"$1.json" || return 1
  awk '{ all = all $0 }
    END {
      n = split(all, part, "[{]\"time\":")
      for (i = 2; i <= n; i++) {
        id = ""; original = "-"
        if (match(part[i], /"id":"[0-9a-f]+"/)) id = substr(part[i], RSTART + 6, RLENGTH - 7)
        if (match(part[i], /"original":"[0-9a-f]+"/)) original = substr(part[i], RSTART + 12, RLENGTH - 13)
        if (id != "") print id, original
      }
    }' "$1.json" >"$1"
}

# The snapshots of list $1 named in FORGET by their own id, or, with $2 "copies", by their
# original's too (only on the secondary: on the primary, a tenant could write an "original").
chosen() {
  while read -r id original; do
    [ "${2:-}" = copies ] || original=-
    for f in $FORGET; do
      case "$id $original" in "$f"* | *" $f"*) printf ' %s' "$id"; break ;; esac
    done
  done <"$1"
}

# Locks of runs that died (a killed Job) would block the prune: restic's unlock removes only
# stale ones (not refreshed for 30 minutes, or of a dead process on this host).
restic unlock >&2 || fail "restic unlock failed"
list_snapshots "$TMPDIR/primary" "$RESTIC_REPOSITORY" || fail "restic snapshots failed"
# An id already gone was forgotten by an earlier try of this retention (it failed later on).
forget=$(chosen "$TMPDIR/primary")
forgotten=0
if [ -n "$forget" ]; then
  # shellcheck disable=SC2086 # a list of ids, checked above
  restic forget --retry-lock 30m -- $forget >&2 || fail "restic forget failed"
  # shellcheck disable=SC2086
  set -- $forget
  forgotten=$#
fi
say "forgot $forgotten of the $(echo "$FORGET" | wc -w) snapshots to forget"
# Prune every time: it also removes what killed backups left behind.
restic prune --retry-lock 30m >&2 || fail "restic prune failed"
# A tenant can delete lock files (the append-only server allows it), so a backup may have raced
# the prune: check what the prune left before anything relies on it.
restic check --retry-lock 30m >&2 \
  || fail "restic check after the prune found the repository damaged: repair it before the next backup is trusted (see this run's log)"
kept=$(restic snapshots --host "$TENANT" --compact | grep -c '^[0-9a-f]\{8\} ' || true)

copied=false
if [ -n "${SECONDARY_REPOSITORY:-}" ]; then
  export RESTIC_FROM_REPOSITORY="$RESTIC_REPOSITORY" RESTIC_FROM_PASSWORD="$RESTIC_PASSWORD"
  set +e
  RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic cat config >/dev/null 2>&1
  opened=$?
  set -e
  if [ "$opened" -eq 10 ]; then
    RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic init --copy-chunker-params >&2 || fail "the secondary repository could not be made"
  fi
  RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic copy --host "$TENANT" >&2 || fail "restic copy to the secondary target failed"
  # A copy gets an id of its own; its "original" names the snapshot it was copied from.
  list_snapshots "$TMPDIR/secondary" "$SECONDARY_REPOSITORY" || fail "restic snapshots on the secondary target failed"
  copies=$(chosen "$TMPDIR/secondary" copies)
  if [ -n "$copies" ]; then
    # shellcheck disable=SC2086
    RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic forget --retry-lock 30m -- $copies >&2 \
      || fail "restic forget on the secondary target failed"
  fi
  RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic prune --retry-lock 30m >&2 || fail "restic prune on the secondary target failed"
  copied=true
fi
printf '{"message_type":"retain","snapshot":"%s","snapshots":%s,"copied":%s,"forgotten":%s}\n' \
  "$SNAPSHOT" "${kept:-0}" "$copied" "$forgotten" >"$REPORT"
cat "$REPORT" >&2
