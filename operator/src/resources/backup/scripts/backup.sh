# concejo: one backup of a tenant, its files and a dump of its database in one restic snapshot.
# Run by the tenant's Jobs (CronJob `backup`, and a Job per Backup object); see docs/backups.md.
# Environment: RESTIC_REPOSITORY, RESTIC_PASSWORD, RESTIC_REST_USERNAME, RESTIC_REST_PASSWORD
# (the tenant-facing, append-only server), TENANT (host and tag of every snapshot), WORK (an empty
# folder: the dump and its checksum are backed up from there), FILES_PATH (the file volume; empty
# when the tenant has none), PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE (empty PGHOST: no database),
# REPORT (where the last words go: the termination message in a pod).
set -eu
say() { echo "concejo-backup: $*" >&2; }
fail() { say "$*"; echo "concejo-backup failed: $*" >>"$REPORT"; exit 1; }
: >"$REPORT"
mkdir -p "$WORK"

# A tenant's repository is made by its first backup (the append-only server lets a tenant create,
# never delete). restic exits 10 when there is no repository (0.17+).
set +e
restic cat config >/dev/null 2>"$TMPDIR/open.log"
opened=$?
set -e
case $opened in
  0) ;;
  10) say "no repository yet: creating it"; restic init >&2 ;;
  *) cat "$TMPDIR/open.log" >&2; fail "the repository cannot be opened (restic exit $opened): $(tail -n 1 "$TMPDIR/open.log")" ;;
esac

# The database as a dump, never as copied files; its exit status and size are checked.
if [ -n "${PGHOST:-}" ]; then
  say "dumping database $PGDATABASE from $PGHOST"
  pg_dump --format=custom --no-password --file "$WORK/database.dump" \
    || fail "pg_dump of database $PGDATABASE on $PGHOST failed"
  [ -s "$WORK/database.dump" ] || fail "pg_dump wrote an empty dump"
  (cd "$WORK" && sha256sum database.dump >database.sha256)
fi

set -- "$WORK"
if [ -n "${FILES_PATH:-}" ]; then set -- "$FILES_PATH" "$WORK"; fi
say "backing up $*"
restic backup --retry-lock 2h --json --host "$TENANT" --tag "tenant=$TENANT" "$@" >"$TMPDIR/backup.json" \
  || fail "restic backup failed: $(grep -v '"message_type":"status"' "$TMPDIR/backup.json" | tail -n 1)"
tail -n 1 "$TMPDIR/backup.json" >"$REPORT"
grep -q '"message_type":"summary"' "$REPORT" || fail "restic backup ended without a summary"
cat "$REPORT" >&2
