#!/usr/bin/env bash
# `make image-check`: proves the image `make image` wrote, reading the OCI layout with jq, sha256sum
# and tar (not with crane, which wrote it):
#   - the layout: every blob's digest and size, the OCI media types, the tag;
#   - the config: linux on this machine's architecture, user 65532 (not root), the binary as entrypoint,
#     labels with Cargo's version and repository; the layers' digests uncompressed are the diff_ids;
#   - the binary run from the layers unpacked into a fresh folder, with nothing from the host: chroot
#     into it as user 65532, in new mount, network, PID, IPC and UTS namespaces, with an empty
#     environment; `--version` prints Cargo's version and `crds` prints crds/ byte for byte;
#   - no CA bundle needed: `run`, in the image, reaches a TLS server on 127.0.0.1 whose CA is only in
#     its kubeconfig, and sends it its first API request;
#   - pushable: `crane push` of the layout into crane's in-memory registry on 127.0.0.1, where
#     `crane validate` reads every blob back, under the same digest;
#   - the Dockerfile and the chart agree with it: same user, entrypoint, labels and version.
#
#   e2e/image/check.sh     checks $CONCEJO_IMAGE_DIR (default $CARGO_TARGET_DIR/image)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source e2e/image/common.sh

for t in cargo jq tar gzip sha256sum chroot unshare openssl shuf mkfifo base64; do
  command -v "$t" >/dev/null || { log "$t is needed"; exit 1; }
done
[[ -f $image_dir/index.json ]] || { log "no image in $image_dir: run make image"; exit 1; }

failures=0
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
pass() { log "ok: $*"; }
# expect <what> <got> <want>
expect() { if [[ $2 == "$3" ]]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi; }
# holds <what> <command> [args...]: passes when the command succeeds
holds() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

version=$(cargo_field version)
source_url=$(cargo_field repository)
arch=$(oci_arch)

# --- the layout -------------------------------------------------------------------------------
blob() { printf '%s/blobs/%s\n' "$image_dir" "${1/://}"; }
# verify_blob <digest> <size>: the file under blobs/ hashes to its name and has the size given.
verify_blob() {
  local f got
  f=$(blob "$1")
  [[ -f $f ]] || { fail "blob $1 is missing"; return; }
  got=sha256:$(sha256sum "$f" | cut -d' ' -f1)
  [[ $got == "$1" ]] || fail "blob $1 hashes to $got"
  [[ $(stat -c %s "$f") == "$2" ]] || fail "blob $1 has $(stat -c %s "$f") bytes, its descriptor says $2"
}

expect "oci-layout version" "$(jq -r .imageLayoutVersion "$image_dir/oci-layout")" 1.0.0
expect "images in index.json" "$(jq '.manifests | length' "$image_dir/index.json")" 1
expect "manifest media type" "$(jq -r '.manifests[0].mediaType' "$image_dir/index.json")" \
  application/vnd.oci.image.manifest.v1+json
expect "tag (org.opencontainers.image.ref.name)" \
  "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$image_dir/index.json")" "$version"
manifest_digest=$(jq -r '.manifests[0].digest' "$image_dir/index.json")
verify_blob "$manifest_digest" "$(jq -r '.manifests[0].size' "$image_dir/index.json")"
manifest=$(blob "$manifest_digest")
expect "config media type" "$(jq -r .config.mediaType "$manifest")" application/vnd.oci.image.config.v1+json
verify_blob "$(jq -r .config.digest "$manifest")" "$(jq -r .config.size "$manifest")"
config=$(blob "$(jq -r .config.digest "$manifest")")
mapfile -t layers < <(jq -r '.layers[].digest' "$manifest")
for i in "${!layers[@]}"; do
  expect "layer $i media type" "$(jq -r ".layers[$i].mediaType" "$manifest")" \
    application/vnd.oci.image.layer.v1.tar+gzip
  verify_blob "${layers[$i]}" "$(jq -r ".layers[$i].size" "$manifest")"
  expect "layer $i diff_id" "sha256:$(gzip -dc "$(blob "${layers[$i]}")" | sha256sum | cut -d' ' -f1)" \
    "$(jq -r ".rootfs.diff_ids[$i]" "$config")"
done

# --- the config -------------------------------------------------------------------------------
expect "os/architecture" "$(jq -r '.os + "/" + .architecture' "$config")" "linux/$arch"
user=$(jq -r '.config.User // ""' "$config")
expect "user" "$user" "$image_user"
uid=${user%%:*} gid=${user#*:}
non_root() { [[ $uid =~ ^[0-9]+$ && $uid != 0 && $gid =~ ^[0-9]+$ && $gid != 0 ]]; }
holds "user and group are numeric and not root (Kubernetes' runAsNonRoot can verify it)" non_root
expect "entrypoint" "$(jq -c '.config.Entrypoint' "$config")" "[\"$image_entrypoint\"]"
expect "cmd" "$(jq -c '.config.Cmd' "$config")" null
label() { jq -r --arg k "$1" '.config.Labels[$k] // ""' "$config"; }
expect "label org.opencontainers.image.version" "$(label org.opencontainers.image.version)" "$version"
expect "label org.opencontainers.image.source" "$(label org.opencontainers.image.source)" "$source_url"

# --- the binary, run from the unpacked layers ---------------------------------------------------
root=$(mktemp -d "${TMPDIR:-/tmp}/concejo-image-root.XXXXXX")
chmod 0755 "$root" # as a runtime's root folder; mktemp's 0700 would shut user 65532 out
registry_pid=""
server_pid=""
cleanup() {
  stop_registry
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$root" "$root.tls"
}
trap cleanup EXIT
for l in "${layers[@]}"; do
  if tar -tzf "$(blob "$l")" | grep -qE '(^|/)\.wh\.'; then fail "layer $l has whiteouts (one layer expected)"; fi
  tar -xzf "$(blob "$l")" -C "$root" --numeric-owner --same-permissions
done
log "the unpacked image, $(du -sb "$root" | cut -f1) bytes:"
(cd "$root" && find . -type f -printf '  %10s  /%P\n' | sort -k2) >&2

# In the image only: chroot into the folder, so nothing of the host's file system is visible, in new
# namespaces (without --net only for the TLS check below, which needs 127.0.0.1), with an empty
# environment; killing unshare kills the binary. As root the binary runs as the image's user; without root, a user namespace lets an
# unprivileged user chroot (as itself, mapped to root inside).
#   in_image <unshare options> [NAME=value...] <command> [args...]
isolated="--mount --net --pid --ipc --uts"
unshare_bin=$(command -v unshare) chroot_bin=$(command -v chroot)
in_image() {
  local ns=$1 vars=()
  shift
  while [[ ${1:-} == *=* ]]; do vars+=("$1"); shift; done
  if ((EUID == 0)); then
    # shellcheck disable=SC2086 # $ns is a list of options
    env -i "${vars[@]}" "$unshare_bin" $ns --fork --kill-child "$chroot_bin" --userspec="$image_user" "$root" "$@"
  else
    # shellcheck disable=SC2086
    env -i "${vars[@]}" "$unshare_bin" --user --map-root-user $ns --fork --kill-child "$chroot_bin" "$root" "$@"
  fi
}
((EUID == 0)) || log "not root: the binary runs as the invoking user mapped to root in a user namespace, not as $image_user"
expect "concejo --version in the image" "$(in_image "$isolated" "$image_entrypoint" --version || true)" "concejo $version"

docs=$root.crds
mkdir -p "$docs"
got=""
if in_image "$isolated" "$image_entrypoint" crds >"$docs/all.yaml"; then
  # `crds` prints each CRD after a `---` line; crds/ holds one file per CRD.
  awk -v d="$docs" '/^---$/ { n++; next } { print > (d "/" n ".yaml") }' "$docs/all.yaml"
  got=$(find "$docs" -name '[0-9]*.yaml' -exec sha256sum {} + | cut -d' ' -f1 | sort)
fi
want=$(sha256sum crds/*.yaml | cut -d' ' -f1 | sort)
if [[ -n $want && $got == "$want" ]]; then
  pass "concejo crds in the image: the $(wc -l <<<"$want") CRDs of crds/, byte for byte"
else
  fail "concejo crds in the image differs from crds/ (output kept in $docs/all.yaml)"
  docs=""
fi
[[ -n $docs ]] && rm -rf "$docs"

# --- TLS with the kubeconfig's CA alone ------------------------------------------------------------
# The image has no CA bundle: concejo trusts the API server's CA named by its kubeconfig (in a cluster,
# the service account's ca.crt) and nothing else. A TLS server on 127.0.0.1 with a throwaway CA; the
# binary, run from the image with a kubeconfig naming that CA, must get its first API request through.
tls=$root.tls
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=concejo-image-check \
  -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 1 \
  -extfile "$tls/ext" -out "$tls/server.crt" 2>/dev/null
# s_server prints what a client sends; its stdin (a fifo held open) must not end, or it hangs up.
mkfifo "$tls/stdin"
server_pid="" port=""
for _ in 1 2 3 4 5; do
  port=$(shuf -i 20000-60999 -n 1)
  openssl s_server -accept "127.0.0.1:$port" -cert "$tls/server.crt" -key "$tls/server.key" -naccept 1 -quiet \
    <"$tls/stdin" >"$tls/server.out" 2>&1 &
  server_pid=$!
  exec 9>"$tls/stdin"
  sleep 0.3
  kill -0 "$server_pid" 2>/dev/null && break # else the port was taken: another
  exec 9>&-
  server_pid=""
done
if [[ -z $server_pid ]]; then
  fail "no TLS server could listen on 127.0.0.1: $(cat "$tls/server.out")"
else
  cat >"$root/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: check, cluster: {server: "https://127.0.0.1:$port", certificate-authority-data: $(base64 -w0 "$tls/ca.crt")}}]
users: [{name: check, user: {token: check}}]
contexts: [{name: check, context: {cluster: check, user: check}}]
current-context: check
KUBECONFIG
  chmod 0644 "$root/kubeconfig"
  in_image "--mount --pid --ipc --uts" KUBECONFIG=/kubeconfig "$image_entrypoint" run --http-addr 127.0.0.1:0 \
    >"$tls/concejo.log" 2>&1 &
  client_pid=$!
  for _ in $(seq 1 100); do
    grep -q '^GET /apis/' "$tls/server.out" && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
  exec 9>&-
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  request=$(grep -m1 '^GET /apis/' "$tls/server.out" | tr -d '\r' || true)
  if [[ -n $request ]]; then
    pass "concejo run in the image, TLS with only the kubeconfig's CA: the server got $request"
  else
    fail "concejo run in the image sent no API request over TLS; its log: $(head -c 2000 "$tls/concejo.log")"
  fi
  rm -f "$root/kubeconfig"
fi
rm -rf "$tls"

# --- pushable -----------------------------------------------------------------------------------
crane=$(crane_bin)
start_registry "$crane" "$root.registry.log"
ref=$registry/concejo:$version
if "$crane" push "$image_dir" "$ref" >/dev/null 2>"$root.push.log" &&
  "$crane" validate --remote "$ref" >"$root.validate.log" 2>&1; then
  expect "crane push of the layout, digest in the registry" "$("$crane" digest "$ref")" "$manifest_digest"
else
  fail "crane push/validate: $(cat "$root.push.log" "$root.validate.log")"
fi
stop_registry
rm -f "$root.registry.log" "$root.push.log" "$root.validate.log"

# --- the Dockerfile and the chart say the same ---------------------------------------------------
# The Dockerfile cannot be built here (no container engine, no base images); it must describe this image.
final=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' Dockerfile)
holds "Dockerfile: the final stage is FROM scratch" grep -qx 'FROM scratch' <<<"$final"
holds "Dockerfile: the build stage runs e2e/image/rootfs.sh on the release binary" \
  grep -q 'e2e/image/rootfs.sh target/release/concejo /rootfs' Dockerfile
holds "Dockerfile: the final stage is that folder" grep -qx 'COPY --from=build /rootfs /' <<<"$final"
expect "Dockerfile USER" "$(sed -n 's/^USER //p' <<<"$final")" "$image_user"
expect "Dockerfile ENTRYPOINT" "$(sed -n 's/^ENTRYPOINT //p' <<<"$final")" "[\"$image_entrypoint\"]"
expect "Dockerfile ARG VERSION" "$(sed -n 's/^ARG VERSION=//p' <<<"$final")" "$version"
holds "Dockerfile: label org.opencontainers.image.source=\"$source_url\"" \
  grep -qF "org.opencontainers.image.source=\"$source_url\"" <<<"$final"
expect "chart appVersion (its default image tag)" \
  "$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/concejo/Chart.yaml)" "$version"
expect "chart image repository" "$(sed -n 's/^  repository: *//p' charts/concejo/values.yaml)" "$image_name"
holds "chart: the pod runs as user ${image_user%%:*}" \
  grep -q "runAsUser: ${image_user%%:*}" charts/concejo/templates/deployment.yaml

if ((failures)); then
  log "$failures check(s) failed"
  exit 1
fi
log "the image in $image_dir is proven"
