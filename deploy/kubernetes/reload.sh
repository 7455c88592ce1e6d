#!/usr/bin/env bash
# Reloads the gateway's config in every pod without a restart (CONTRACT.md: SIGHUP reloads).
#
#   kubectl apply -k deploy/kubernetes        # the edited ConfigMap
#   deploy/kubernetes/reload.sh [-n NAMESPACE]
#
# Kubelet projects ConfigMap edits into the pods' /etc/oma-gateway on its own schedule (up to
# about a minute). For each pod this waits until the mounted file equals the ConfigMap, then
# sends SIGHUP to PID 1 (tini, which passes it to the gateway), then reports the gateway's own
# verdict from its log: `config_reloaded`, or `config_reload_refused` with the problems (the
# old config keeps serving). Exit status 1 when any pod did not reload.
set -euo pipefail

kubectl_ns=()
if [[ "${1:-}" == "-n" && -n "${2:-}" ]]; then
    kubectl_ns=(--namespace "$2")
fi
k() { kubectl "${kubectl_ns[@]}" "$@"; }

selector=app.kubernetes.io/name=oma-gateway
want="$(k get configmap oma-gateway-config -o jsonpath='{.data.config\.yaml}' | sha256sum)"
failed=0
for pod in $(k get pods --selector "$selector" --field-selector status.phase=Running -o name); do
    have=""
    for _ in $(seq 1 45); do
        have="$(k exec "$pod" -c gateway -- cat /etc/oma-gateway/config.yaml | sha256sum)"
        [[ "$have" == "$want" ]] && break
        sleep 2
    done
    if [[ "$have" != "$want" ]]; then
        echo "$pod: the new ConfigMap is not mounted yet; not signalled" >&2
        failed=1
        continue
    fi
    since="$(date --utc +%Y-%m-%dT%H:%M:%SZ)"
    k exec "$pod" -c gateway -- python -c 'import os, signal; os.kill(1, signal.SIGHUP)'
    sleep 2
    verdict="$(k logs "$pod" -c gateway --since-time "$since" | grep -E 'config_reload(ed|_refused)' || true)"
    echo "$pod: ${verdict:-no reload line logged yet}"
    [[ "$verdict" == *config_reloaded* ]] || failed=1
done
exit "$failed"
