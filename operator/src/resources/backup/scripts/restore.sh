# concejo: restores one snapshot of a tenant (a Restore object's Job); see docs/backups.md.
# Environment as backup.sh's, plus SNAPSHOT (an id, or "latest": the tenant's newest), TARGET:
#   a folder (NewVolume): files go to $TARGET/files, the database dump to $TARGET/database.dump;
#   "InPlace": files over $FILES_PATH (what the snapshot does not hold is removed), and the database
#   loaded into a fresh cluster in $PGDATA, the old one kept aside as $PGDATA.before-<time>; PARTS
#   ("files", "database", or both, the default) says which, as each runs as its own user.
# FILES_PATH and WORK must be the paths the backups used: they name the folders in the snapshot.
set -eu
say() { echo "concejo-restore: $*" >&2; }
fail() { say "$*"; echo "concejo-restore failed: $*" >>"$REPORT"; exit 1; }
: >"$REPORT"
meta="$TMPDIR/meta"
mkdir -p "$meta"

snapshot=$SNAPSHOT
if [ "$snapshot" = latest ]; then
  snapshot=$(restic snapshots --host "$TENANT" --tag "tenant=$TENANT" --latest 1 --compact \
    | awk '/^[0-9a-f]{8} / {id=$1} END {print id}')
  [ -n "$snapshot" ] || fail "tenant $TENANT has no snapshot yet"
fi
say "restoring snapshot $snapshot"
restic restore --retry-lock 30m "$snapshot:$WORK" --target "$meta" --verify >&2 || fail "restic could not restore $snapshot:$WORK"
if [ -f "$meta/database.dump" ]; then
  (cd "$meta" && sha256sum -c database.sha256 >&2) || fail "the database dump of $snapshot does not match its checksum"
fi

parts=" ${PARTS:-files database} "
if [ "$TARGET" = InPlace ]; then
  out=
  if [ -n "${FILES_PATH:-}" ] && [ "${parts#* files }" != "$parts" ]; then
    restic restore --retry-lock 30m "$snapshot:$FILES_PATH" --target "$FILES_PATH" --delete --verify >&2 \
      || fail "restic could not restore the files of $snapshot"
    out=$FILES_PATH
  fi
  if [ -f "$meta/database.dump" ] && [ "${parts#* database }" != "$parts" ]; then
    aside="$PGDATA.before-$(date -u +%Y%m%dT%H%M%SZ)"
    if [ -d "$PGDATA" ]; then mv "$PGDATA" "$aside"; say "the database in place was kept as $aside"; fi
    printf '%s\n' "$PGPASSWORD" >"$TMPDIR/pw"
    initdb --pgdata "$PGDATA" --username "$PGUSER" --pwfile "$TMPDIR/pw" --auth-local trust --auth-host scram-sha-256 >&2
    rm -f "$TMPDIR/pw"
    # Nextcloud connects from its own pod: what the PostgreSQL image writes on a first start.
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl --pgdata "$PGDATA" --options "-c listen_addresses= -k $TMPDIR" --wait start >&2
    createdb --host "$TMPDIR" --username "$PGUSER" "$PGDATABASE" 2>/dev/null || true
    pg_restore --host "$TMPDIR" --username "$PGUSER" --dbname "$PGDATABASE" --exit-on-error --no-owner "$meta/database.dump" \
      || {
        pg_ctl --pgdata "$PGDATA" --mode fast --wait stop >&2
        # The database the tenant had stays in force: a half-loaded one never does.
        if [ -d "${aside:-}" ]; then rm -rf "$PGDATA" && mv "$aside" "$PGDATA"; fi
        fail "the dump of $snapshot did not load; the database in place was left as it was"
      }
    pg_ctl --pgdata "$PGDATA" --mode fast --wait stop >&2
    out=$PGDATA
  fi
  [ -n "$out" ] || fail "nothing to restore in place: PARTS is \"${PARTS:-}\" and snapshot $snapshot holds no such part"
else
  mkdir -p "$TARGET/files"
  if [ -n "${FILES_PATH:-}" ]; then
    restic restore --retry-lock 30m "$snapshot:$FILES_PATH" --target "$TARGET/files" --verify >&2 \
      || fail "restic could not restore the files of $snapshot"
  fi
  if [ -f "$meta/database.dump" ]; then cp "$meta/database.dump" "$meta/database.sha256" "$TARGET/"; fi
  out=$TARGET
fi
files=$(find "$out" -type f | wc -l)
bytes=$(du -sb "$out" 2>/dev/null | cut -f1 || echo 0)
printf '{"message_type":"restore","snapshot":"%s","files":%s,"bytes":%s}\n' "$snapshot" "$files" "${bytes:-0}" >"$REPORT"
cat "$REPORT" >&2
