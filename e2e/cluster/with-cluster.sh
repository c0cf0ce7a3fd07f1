#!/usr/bin/env bash
# Runs a command with KUBECONFIG pointing at the local control plane. Starts the control plane
# when it is not up, and then stops it again afterwards; a cluster that was already up is left up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
started=0
if ! "$here/cluster.sh" status; then
  "$here/cluster.sh" up >/dev/null
  started=1
fi
stop() { if ((started)); then "$here/cluster.sh" down; fi; }
trap stop EXIT
KUBECONFIG=$("$here/cluster.sh" kubeconfig) "$@"
