#!/usr/bin/env bash
# Reports, pod by pod, the reload the gateway makes by itself after a ConfigMap or Secret edit.
#
#   kubectl apply -k deploy/kubernetes                 # the edited ConfigMap (or update the Secret)
#   deploy/kubernetes/reload.sh [-n NAMESPACE] [--timeout SECONDS] [--signal]
#
# Kubelet projects the edit into each pod's mounted volume on its own schedule (up to about a
# minute); the gateway notices the swapped file within 2s and reloads as on SIGHUP
# (`watch_files`, on by default). This script only reads each pod's log (needs `pods/log`, not
# `pods/exec`) until it shows the gateway's verdict: `config_reloaded`, or
# `config_reload_refused` with the problems while the old config keeps serving. Exit status 1
# when a pod refused or gave no verdict in time.
#
# --signal is the fallback for gateways run with `watch_files: false`: it also sends SIGHUP to
# PID 1 (tini passes it on) through `kubectl exec`, which needs `pods/exec`.
#
# Portable: bash and kubectl only (no GNU date, sha256sum or seq).
set -euo pipefail

namespace=oma-gateway
timeout=120
signal=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n | --namespace) namespace="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --signal) signal=1; shift ;;
        *) echo "usage: $0 [-n NAMESPACE] [--timeout SECONDS] [--signal]" >&2; exit 2 ;;
    esac
done
k() { kubectl --namespace "$namespace" "$@"; }

# Log lines younger than this window (seconds) count: it starts a little before this script
# and grows as the script runs, so kubectl's relative --since needs no clock arithmetic here.
lookback=300
verdict_of() {
    k logs "$1" -c gateway --since="$((lookback + SECONDS))s" 2>/dev/null \
        | grep -E '"event": ?"config_reload(ed|_refused)"' | tail -n 1 || true
}

failed=0
for pod in $(k get pods --selector app.kubernetes.io/name=oma-gateway \
        --field-selector status.phase=Running -o name); do
    if [[ "$signal" == 1 ]]; then
        k exec "$pod" -c gateway -- python -c 'import os, signal; os.kill(1, signal.SIGHUP)'
    fi
    verdict=""
    started=$SECONDS
    while [[ -z "$verdict" && $((SECONDS - started)) -lt "$timeout" ]]; do
        verdict="$(verdict_of "$pod")"
        [[ -n "$verdict" ]] || sleep 2
    done
    echo "$pod: ${verdict:-no reload logged within ${timeout}s (not projected yet?)}"
    [[ "$verdict" == *config_reloaded* ]] || failed=1
done
exit "$failed"
