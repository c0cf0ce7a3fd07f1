# concejo: a restore drill, run from the province's side (ENS mp.info.6); see docs/backups.md.
# Restores SNAPSHOT into SCRATCH (an empty volume deleted with the pod), checks every restored file
# against the content hashes the snapshot recorded (restic restore --verify), the file count
# against the backup's (EXPECT_FILES, from its summary: the files and the dump), the dump against
# the checksum the backup wrote, loads the dump into a scratch PostgreSQL, and reads a sample of
# the repository's data back (restic check --read-data-subset). Environment as restore.sh's,
# with the province-side server, and READ_SUBSET (e.g. "10%").
set -eu
say() { echo "concejo-drill: $*" >&2; }
fail() { say "$*"; echo "concejo-drill failed: $*" >>"$REPORT"; exit 1; }
: >"$REPORT"
mkdir -p "$SCRATCH/files" "$SCRATCH/meta"

say "restoring snapshot $SNAPSHOT of $TENANT"
restic restore --retry-lock 2h "$SNAPSHOT:$WORK" --target "$SCRATCH/meta" --verify >&2 \
  || fail "restic could not restore $SNAPSHOT:$WORK"
if [ -n "${FILES_PATH:-}" ]; then
  restic restore --retry-lock 2h "$SNAPSHOT:$FILES_PATH" --target "$SCRATCH/files" --verify >&2 \
    || fail "restic could not restore the files of $SNAPSHOT"
fi
files=$(find "$SCRATCH/files" "$SCRATCH/meta" -type f | wc -l)
if [ -n "${EXPECT_FILES:-}" ] && [ "$files" -ne "$EXPECT_FILES" ]; then
  fail "snapshot $SNAPSHOT restored $files files, its backup recorded $EXPECT_FILES"
fi

tables=0
if [ -f "$SCRATCH/meta/database.dump" ]; then
  (cd "$SCRATCH/meta" && sha256sum -c database.sha256 >&2) \
    || fail "the database dump of $SNAPSHOT does not match the checksum its backup recorded"
  pg="$SCRATCH/pg"
  initdb --pgdata "$pg" --username drill --auth trust >/dev/null
  pg_ctl --pgdata "$pg" --options "-c listen_addresses= -k $SCRATCH" --wait start >&2
  createdb --host "$SCRATCH" --username drill restored
  loaded=0
  pg_restore --host "$SCRATCH" --username drill --dbname restored --exit-on-error --no-owner --no-acl \
    "$SCRATCH/meta/database.dump" >&2 || loaded=$?
  tables=$(psql --host "$SCRATCH" --username drill --dbname restored -Atc \
    "select count(*) from information_schema.tables where table_schema not in ('pg_catalog','information_schema')" || echo 0)
  pg_ctl --pgdata "$pg" --mode fast --wait stop >&2
  [ "$loaded" -eq 0 ] || fail "the database dump of $SNAPSHOT did not load into PostgreSQL (pg_restore exit $loaded)"
fi

restic check --retry-lock 2h --read-data-subset="${READ_SUBSET:-10%}" >&2 \
  || fail "restic check found damage in the repository of $TENANT"
bytes=$(du -sb "$SCRATCH/files" | cut -f1)
printf '{"message_type":"drill","snapshot":"%s","files":%s,"bytes":%s,"tables":%s}\n' "$SNAPSHOT" "$files" "$bytes" "$tables" >"$REPORT"
cat "$REPORT" >&2
