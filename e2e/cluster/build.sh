#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go modules pinned under e2e/toolchain/, once per
# machine. Each module is built into its own folder of the cache, keyed by the hash of its go.mod and
# go.sum, so a second run finds everything and returns in well under a second.
#
# local-path-provisioner (dynamic PersistentVolumes) needs no wrapper module: its own go.mod has no
# replace lines, so it is built with `go install <package>@<version>` at the version pinned below
# (downloads checked against sum.golang.org as usual), cached under a key of that pin.
#
#   e2e/cluster/build.sh            build what is missing, print the bin folder of each component
#   e2e/cluster/build.sh --path     print a PATH fragment with every component's bin folder (no build)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
toolchain=$(cd "$here/../toolchain" && pwd)
cache=${CONCEJO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/concejo}

# module folder -> binaries it provides
declare -A provides=(
  [kube]="kube-apiserver kube-controller-manager kube-scheduler kubectl"
  [etcd]="etcd"
  [kwok]="kwok"
  [helm]="helm"
  [local-path-provisioner]="local-path-provisioner"
)
# binary -> Go package (each is also a `tool` line of its module's go.mod)
declare -A package=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [etcd]=go.etcd.io/etcd/server/v3
  [kwok]=sigs.k8s.io/kwok/cmd/kwok
  [helm]=helm.sh/helm/v3/cmd/helm
  [local-path-provisioner]=github.com/rancher/local-path-provisioner
)
# Modules without a wrapper module under e2e/toolchain: module -> the pinned version, built with
# `go install <package>@<version>`. v0.0.30 is the newest the Go proxy serves (2024-10).
declare -A install_pin=(
  [local-path-provisioner]=v0.0.30
)
order=(etcd kwok helm local-path-provisioner kube)

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The version of the module's main dependency, read from its go.mod (the pin lives there only), or
# the pin in install_pin above.
pinned_version() {
  local mod=$1 dep
  if [[ -n ${install_pin[$mod]:-} ]]; then
    printf '%s\n' "${install_pin[$mod]}"
    return
  fi
  case $mod in
    kube) dep=k8s.io/kubernetes ;;
    etcd) dep=go.etcd.io/etcd/server/v3 ;;
    kwok) dep=sigs.k8s.io/kwok ;;
    helm) dep=helm.sh/helm/v3 ;;
  esac
  awk -v d="$dep" '$1==d && $2 ~ /^v/ {print $2; exit} $1=="require" && $2==d {print $3; exit}' \
    "$toolchain/$mod/go.mod"
}

bin_dir() {
  local mod=$1 hash
  if [[ -n ${install_pin[$mod]:-} ]]; then
    local b
    hash=$( (for b in ${provides[$mod]}; do echo "${package[$b]}@${install_pin[$mod]}"; done
      ldflags_for "$mod"; go env GOVERSION) | sha256sum | cut -c1-12)
  else
    hash=$( (cat "$toolchain/$mod/go.mod" "$toolchain/$mod/go.sum"; go env GOVERSION) | sha256sum | cut -c1-12)
  fi
  printf '%s/bin/%s-%s-%s\n' "$cache" "$mod" "$(pinned_version "$mod")" "$hash"
}

ldflags_for() {
  local mod=$1 v
  v=$(pinned_version "$mod")
  case $mod in
    kube)
      local major minor date flags=""
      major=$(cut -d. -f1 <<<"${v#v}"); minor=$(cut -d. -f2 <<<"$v")
      date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
      done
      printf -- '-s -w%s' "$flags" ;;
    local-path-provisioner) printf -- '-s -w -X main.VERSION=%s' "$v" ;;
    *) printf -- '-s -w' ;;
  esac
}

build_module() {
  local mod=$1 dir tmp start
  dir=$(bin_dir "$mod")
  local missing=0
  for b in ${provides[$mod]}; do [[ -x $dir/$b ]] || missing=1; done
  if ((missing == 0)); then
    log "$mod $(pinned_version "$mod"): cached in $dir"
    return
  fi
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  start=$(date +%s)
  [[ $mod == kube ]] && log "the first build of the Kubernetes binaries takes about 10 minutes on 2 cores (8-11 measured)"
  local n=0 total
  total=$(wc -w <<<"${provides[$mod]}")
  for b in ${provides[$mod]}; do
    n=$((n + 1))
    log "$mod $(pinned_version "$mod"): building $b ($n of $total)"
    local pkg=${package[$b]}
    if [[ -n ${install_pin[$mod]:-} ]]; then
      # `go install pkg@version` ignores any go.mod around it and names the binary after the package.
      (cd "$tmp" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$tmp" \
        go install -ldflags "$(ldflags_for "$mod")" "$pkg@${install_pin[$mod]}") &
    else
      (cd "$toolchain/$mod" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" \
        go build -ldflags "$(ldflags_for "$mod")" -o "$tmp/$b" "$pkg") &
    fi
    local pid=$! began=$SECONDS
    # A heartbeat, so that a long first build is visibly alive.
    while kill -0 "$pid" 2>/dev/null; do
      sleep 5
      if kill -0 "$pid" 2>/dev/null && (((SECONDS - began) % 60 < 5)) && ((SECONDS - began >= 60)); then
        log "  still building $b: $(((SECONDS - began) / 60)) min so far"
      fi
    done
    wait "$pid" || { log "building $b failed (see the Go output above)"; exit 1; }
  done
  rm -rf "$dir"; mv "$tmp" "$dir"
  log "$mod: built in $(($(date +%s) - start))s -> $dir"
}

case ${1:-} in
  --path)
    p=""
    for mod in "${order[@]}"; do p+="$(bin_dir "$mod"):"; done
    printf '%s\n' "${p%:}" ;;
  "")
    command -v go >/dev/null || { echo "build.sh: Go is needed to build the control plane (go 1.26+)" >&2; exit 1; }
    for mod in "${order[@]}"; do build_module "$mod"; done ;;
  *) echo "usage: $0 [--path]" >&2; exit 2 ;;
esac
