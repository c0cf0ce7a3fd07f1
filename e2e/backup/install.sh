#!/usr/bin/env bash
# Installs the real programs the backup tests start as processes on 127.0.0.1, once per machine:
#   restic     the backup client (Debian's 0.14 is too old: pinned from the Go module proxy)
#   rclone     `rclone serve restic`, the provincial repository server (private repos, append-only)
#   versitygw  an S3-compatible store on plain files (each top-level folder of its data dir is a bucket)
#   postgres   server and client (pg_dump) from Debian's packages
#
# The Go programs are built with `CGO_ENABLED=0 go install <package>@<version>` into a folder of the
# cache keyed by the pin and `go env GOVERSION` (as e2e/cluster/build.sh does), so a second run finds
# everything and returns in well under a second. Never use `@latest`: the proxy here resolves restic's
# to v0.10.0 (2020).
#
#   e2e/backup/install.sh            install what is missing, print the bin folder of each tool
#   e2e/backup/install.sh --path     print a PATH fragment with every tool's bin folder (no build)
set -euo pipefail

cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}

# tool -> Go package, and tool -> pinned version (`go install <package>@<version>`)
declare -A package=(
  [restic]=github.com/restic/restic/cmd/restic
  [rclone]=github.com/rclone/rclone
  [versitygw]=github.com/versity/versitygw/cmd/versitygw
)
declare -A install_pin=(
  [restic]=v0.19.1
  [rclone]=v1.76.0
  [versitygw]=v1.8.0
)
order=(restic versitygw rclone)

log() { printf '[backup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ldflags_for() {
  local tool=$1 v=${install_pin[$1]}
  case $tool in
    # Without these the binaries report a development version (`rclone version`: v1.76.0-DEV).
    rclone) printf -- '-s -w -X github.com/rclone/rclone/fs.Version=%s' "$v" ;;
    versitygw) printf -- '-s -w -X main.Version=%s' "$v" ;;
    *) printf -- '-s -w' ;;
  esac
}

bin_dir() {
  local tool=$1 hash
  hash=$( (echo "${package[$tool]}@${install_pin[$tool]}"; ldflags_for "$tool"; go env GOVERSION) |
    sha256sum | cut -c1-12)
  printf '%s/bin/%s-%s-%s\n' "$cache" "$tool" "${install_pin[$tool]}" "$hash"
}

# The newest PostgreSQL bin folder Debian's packages installed, or nothing.
postgres_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] && printf '%s\n' "$d"
  return 0
}

build_tool() {
  local tool=$1 dir tmp start pid began
  dir=$(bin_dir "$tool")
  if [[ -x $dir/$tool ]]; then
    log "$tool ${install_pin[$tool]}: cached in $dir"
    return
  fi
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  start=$(date +%s)
  log "$tool ${install_pin[$tool]}: building ${package[$tool]}"
  [[ $tool == rclone ]] && log "the first build of rclone takes about 3 min on 2 cores (170 s measured)"
  # `go install pkg@version` ignores any go.mod around it and names the binary after the package.
  (cd "$tmp" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$tmp" \
    go install -ldflags "$(ldflags_for "$tool")" "${package[$tool]}@${install_pin[$tool]}") &
  pid=$! began=$SECONDS
  # A heartbeat, so that a long first build is visibly alive.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if kill -0 "$pid" 2>/dev/null && (((SECONDS - began) % 60 < 5)) && ((SECONDS - began >= 60)); then
      log "  still building $tool: $(((SECONDS - began) / 60)) min so far"
    fi
  done
  wait "$pid" || { rm -rf "$tmp"; log "building $tool failed (see the Go output above)"; exit 1; }
  [[ -x $tmp/$tool ]] || { log "go install left no $tool in $tmp"; exit 1; }
  rm -rf "$dir"; mv "$tmp" "$dir"
  log "$tool: built in $(($(date +%s) - start))s -> $dir"
}

install_postgres() {
  local d start
  d=$(postgres_bin)
  if [[ -n $d ]]; then
    log "postgres: found in $d ($("$d/postgres" --version))"
    return
  fi
  ((EUID == 0)) || { log "postgres: not installed; run as root, or: sudo apt-get install -y postgresql"; exit 1; }
  start=$(date +%s)
  log "postgres: installing Debian's postgresql (server and client) with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # The Debian package also creates the `postgres` system user the tests run the server as. Its
  # post-install script may create and start a cluster of its own: the tests never use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  d=$(postgres_bin)
  [[ -n $d ]] || { log "postgres: apt-get finished but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"; exit 1; }
  log "postgres: installed in $(($(date +%s) - start))s -> $d"
}

case ${1:-} in
  --path)
    p=""
    for tool in "${order[@]}"; do p+="$(bin_dir "$tool"):"; done
    pg=$(postgres_bin)
    [[ -n $pg ]] && p+="$pg:"
    printf '%s\n' "${p%:}" ;;
  "")
    command -v go >/dev/null || { echo "install.sh: Go is needed to build restic, rclone and versitygw (go 1.24+)" >&2; exit 1; }
    for tool in "${order[@]}"; do build_tool "$tool"; done
    install_postgres
    for tool in "${order[@]}"; do bin_dir "$tool"; done
    postgres_bin ;;
  *) echo "usage: $0 [--path]" >&2; exit 2 ;;
esac
