# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# Sourced by e2e/image/build.sh and check.sh: what the image is (name, version, user, entrypoint,
# labels) and crane, the daemonless image tool both use.
#
# crane (github.com/google/go-containerregistry) is built once with `CGO_ENABLED=0 go install
# <package>@<version>` into a folder of the cache keyed by the pin and `go env GOVERSION`, as
# e2e/backup/install.sh does for its tools, so later runs find it at once.

cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}
target=${CARGO_TARGET_DIR:-$cache/target}
# The OCI image layout `make image` writes and `make image-check` proves.
image_dir=${CONCEJO_IMAGE_DIR:-$target/image}

# Where the chart pulls from (charts/concejo/values.yaml); the tag is the version.
image_name=ghcr.io/concejo-dev/concejo
image_user=65532:65532
image_entrypoint=/usr/local/bin/concejo

crane_package=github.com/google/go-containerregistry/cmd/crane
crane_pin=v0.22.1

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The concejo package's version and repository, from Cargo (the workspace's [workspace.package]).
cargo_field() {
  cargo metadata --no-deps --format-version 1 --offline |
    jq -er --arg f "$1" '.packages[] | select(.name == "concejo") | .[$f]'
}

# The OCI architecture of this machine (the image holds this machine's binary and libraries).
oci_arch() {
  case $(uname -m) in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) log "no OCI architecture known for $(uname -m)"; return 1 ;;
  esac
}

crane_dir() {
  local hash
  hash=$( (echo "$crane_package@$crane_pin"; echo "-s -w"; go env GOVERSION) | sha256sum | cut -c1-12)
  printf '%s/bin/crane-%s-%s\n' "$cache" "$crane_pin" "$hash"
}

# Builds crane if it is not cached yet; prints its path.
crane_bin() {
  local dir tmp start
  command -v go >/dev/null || { log "Go is needed to build crane (go 1.24+)"; return 1; }
  dir=$(crane_dir)
  if [[ ! -x $dir/crane ]]; then
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    start=$(date +%s)
    log "crane $crane_pin: building $crane_package (once; cached in $dir)"
    # `go install pkg@version` ignores any go.mod around it and names the binary after the package.
    (cd "$tmp" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$tmp" \
      go install -ldflags '-s -w' "$crane_package@$crane_pin") >&2 ||
      { rm -rf "$tmp"; log "building crane failed (see the Go output above)"; return 1; }
    rm -rf "$dir"; mv "$tmp" "$dir"
    log "crane: built in $(($(date +%s) - start))s -> $dir"
  fi
  printf '%s/crane\n' "$dir"
}

# Starts crane's in-memory registry on a free port of 127.0.0.1 (crane speaks plain HTTP to
# 127.0.0.1); sets registry_pid and registry (host:port). The caller stops it with stop_registry.
start_registry() {
  local crane=$1 logfile=$2 port=""
  "$crane" registry serve --address 127.0.0.1:0 2>"$logfile" &
  registry_pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$logfile")
    [[ -n $port ]] && break
    kill -0 "$registry_pid" 2>/dev/null || { log "crane registry exited: $(cat "$logfile")"; return 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { log "crane registry did not start: $(cat "$logfile")"; return 1; }
  registry=127.0.0.1:$port
}

stop_registry() {
  if [[ -n ${registry_pid:-} ]]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}
