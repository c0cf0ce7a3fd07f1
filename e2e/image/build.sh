#!/usr/bin/env bash
# `make image`: concejo's container image as an OCI image layout, built with no container engine.
#
#   1. the release binary (`cargo build --release`), or the binary in $CONCEJO_BIN;
#   2. its root filesystem (e2e/image/rootfs.sh: the binary, exactly the libraries it loads, the
#      non-root user), packed as one layer tar with fixed times and owners (same files, same bytes);
#   3. crane, with no base image: an empty OCI image plus that layer (`crane append`), then the
#      config (`crane mutate`: platform, user 65532, entrypoint, labels), through crane's in-memory
#      registry on 127.0.0.1 (mutate reads an image from a registry), and saved as an OCI layout
#      (`crane pull --format oci`) tagged with the version.
#
#   e2e/image/build.sh          build; print the layout's folder
#   e2e/image/build.sh --dir    print the layout's folder (no build)
# The layout's folder is $CONCEJO_IMAGE_DIR, by default $CARGO_TARGET_DIR/image. Push it with
# `crane push <folder> <registry>/concejo:<version>` (docs/image.md).
set -euo pipefail
umask 022
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source e2e/image/common.sh

case ${1:-} in
  --dir) printf '%s\n' "$image_dir"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--dir]" >&2; exit 2 ;;
esac
for t in cargo go jq tar gzip strip sha256sum; do
  command -v "$t" >/dev/null || { log "$t is needed"; exit 1; }
done

version=$(cargo_field version)
source_url=$(cargo_field repository)
arch=$(oci_arch)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[[ $revision != unknown && -n $(git status --porcelain 2>/dev/null) ]] && revision+=-dirty
# Layer times: SOURCE_DATE_EPOCH when given (reproducible-builds.org), else the commit's time.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

bin=${CONCEJO_BIN:-}
if [[ -z $bin ]]; then
  start=$SECONDS
  log "building the release binary (cargo build --release; about 10 min the first time on 2 cores)"
  cargo build --release --locked -p concejo --bin concejo
  bin=$target/release/concejo
  log "release binary ready in $((SECONDS - start))s"
fi
got=$("$bin" --version)
[[ $got == "concejo $version" ]] || { log "$bin --version says '$got', Cargo says $version"; exit 1; }

crane=$(crane_bin)
work=$(mktemp -d "${TMPDIR:-/tmp}/concejo-image.XXXXXX")
registry_pid=""
cleanup() { stop_registry; rm -rf "$work"; }
trap cleanup EXIT

e2e/image/rootfs.sh "$bin" "$work/rootfs"
# Entries in name order, without a leading "./", owned by 0:0 (the user comes from the config), with
# the epoch as every mtime and no atime/ctime: the same files give the same layer digest.
(cd "$work/rootfs" && find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z) |
  tar -C "$work/rootfs" --null --no-recursion -T - -cf "$work/layer.tar" \
    --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
gzip -n <"$work/layer.tar" >"$work/layer.tar.gz"

start_registry "$crane" "$work/registry.log"
# crane's messages go to a log, shown when it fails.
crane_quiet() { "$crane" "$@" 2>>"$work/crane.log" >/dev/null || { log "crane $1 failed:"; cat "$work/crane.log" >&2; exit 1; }; }
ref=$registry/concejo:$version
crane_quiet append --oci-empty-base -f "$work/layer.tar.gz" -t "$ref"
crane_quiet mutate "$ref" -t "$ref" \
  --set-platform "linux/$arch" \
  --user "$image_user" \
  --entrypoint "$image_entrypoint" \
  --label "org.opencontainers.image.title=concejo" \
  --label "org.opencontainers.image.description=$(cargo_field description)" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$source_url" \
  --label "org.opencontainers.image.licenses=$(cargo_field license)"
crane_quiet pull --format oci "$ref" "$work/oci"
stop_registry
# The tag goes in index.json, the layout's one mutable file, as the OCI image-layout spec names it
# (`skopeo copy oci:<folder>:<version> ...`).
jq --arg v "$version" '.manifests[0].annotations["org.opencontainers.image.ref.name"] = $v' \
  "$work/oci/index.json" >"$work/index.json"
mv "$work/index.json" "$work/oci/index.json"

rm -rf "$image_dir"
mkdir -p "$(dirname "$image_dir")"
mv "$work/oci" "$image_dir"

manifest=$(jq -r '.manifests[0].digest' "$image_dir/index.json")
m=$image_dir/blobs/${manifest/://}
compressed=$(jq '[.config.size, (.layers[].size)] | add' "$m")
log "$image_name:$version ($manifest) in $image_dir"
log "size: $compressed bytes to pull ($((compressed / 1024)) KiB compressed), $(du -sb "$work/rootfs" | cut -f1) bytes unpacked"
printf '%s\n' "$image_dir"
