# concejo: retention after a backup, from the province's side, with credentials no tenant holds;
# then the copy to the secondary target. See docs/backups.md.
# Environment: RESTIC_* for the province-side server and the tenant's key, TENANT, SNAPSHOT (the
# backup that triggered this run), KEEP ("--keep-daily 7 ..."), and, for the copy,
# SECONDARY_REPOSITORY with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (restic's s3 backend).
set -eu
say() { echo "concejo-retain: $*" >&2; }
fail() { say "$*"; echo "concejo-retain failed: $*" >>"$REPORT"; exit 1; }
: >"$REPORT"

# Locks of runs that died (a killed Job) would block the prune: restic's unlock removes only
# stale ones (not refreshed for 30 minutes, or of a dead process on this host).
restic unlock >&2 || fail "restic unlock failed"
# shellcheck disable=SC2086 # KEEP is a list of flags
restic forget --host "$TENANT" --tag "tenant=$TENANT" --group-by host,tags $KEEP --prune --retry-lock 30m >&2 \
  || fail "restic forget --prune failed"
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
  # shellcheck disable=SC2086
  RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic forget --host "$TENANT" --tag "tenant=$TENANT" --group-by host,tags $KEEP --prune --retry-lock 30m >&2 \
    || fail "restic forget --prune on the secondary target failed"
  copied=true
fi
printf '{"message_type":"retain","snapshot":"%s","snapshots":%s,"copied":%s}\n' "$SNAPSHOT" "${kept:-0}" "$copied" >"$REPORT"
cat "$REPORT" >&2
