#!/usr/bin/env bash
# Assembles the container image's root filesystem in a new folder:
#   /usr/local/bin/concejo      the binary, symbols stripped (not needed at run time)
#   the shared libraries        exactly those the binary loads, at the paths `ldd` prints, copied from
#                               this system (glibc's libc, libm, the loader; libgcc_s for unwinding)
#   /usr/share/doc/*/copyright  the licences of the Debian packages those libraries come from
#   /etc/passwd, /etc/group     root and the non-root user and group 65532 ("nonroot") the image runs as
#   /etc/nsswitch.conf          /etc/hosts before DNS (glibc's default without the file is DNS first,
#                               which would ignore a Pod's hostAliases)
# Nothing else: no shell, no CA bundle. The operator trusts only the API server's CA from its kubeconfig or
# the in-cluster service account (kube-client builds its root store from that alone), so /etc/ssl is unused.
#
# `make image` (e2e/image/build.sh) packs this folder as the image's one layer; the Dockerfile's build
# stage runs this same script and copies the folder into a `scratch` stage, so both hold the same files.
#
#   e2e/image/rootfs.sh <binary> <folder>      <folder> must not exist yet
set -euo pipefail

bin=${1:?usage: rootfs.sh <binary> <folder>}
root=${2:?usage: rootfs.sh <binary> <folder>}
log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[[ -x $bin ]] || { log "$bin: no such executable"; exit 1; }
[[ ! -e $root ]] || { log "$root already exists: give a new folder"; exit 1; }
command -v strip >/dev/null || { log "strip (binutils) is needed"; exit 1; }

mkdir -p "$root/usr/local/bin" "$root/etc"
install -m 0755 "$bin" "$root/usr/local/bin/concejo"
strip --strip-all "$root/usr/local/bin/concejo"

# ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" for a library and
# "/lib64/ld-linux-x86-64.so.2 (0x...)" for the loader; linux-vdso has no file (the kernel maps it).
# A static binary ("not a dynamic executable") needs none.
if deps=$(ldd "$bin" 2>&1); then
  if grep -q 'not found' <<<"$deps"; then
    log "$bin needs libraries this system lacks:"; grep 'not found' <<<"$deps" >&2; exit 1
  fi
  libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$deps" | sort -u)
else
  grep -q 'not a dynamic executable' <<<"$deps" || { log "ldd $bin failed: $deps"; exit 1; }
  libs=""
fi

for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib" # the file itself, at the path the loader asks for, not the symlink
  if command -v dpkg-query >/dev/null; then
    pkg=$(dpkg-query -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    [[ -z $pkg ]] && pkg=$(dpkg-query -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    if [[ -n $pkg && -f /usr/share/doc/$pkg/copyright && ! -f $root/usr/share/doc/$pkg/copyright ]]; then
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
    fi
  fi
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

log "root filesystem in $root: the binary and $(wc -w <<<"$libs") libraries ($(du -sh "$root" | cut -f1))"
