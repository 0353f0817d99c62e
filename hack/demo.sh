#!/usr/bin/env bash
# make demo: the main job of vmo-cue on one machine. Local clusters for the example fleet (real
# kube-apiservers), a local git repository made from fleet/, a sync in a rollout, the status read from
# the clusters, a VM changed by hand and the drift found and corrected, a commit rolled out, a cluster
# stopped and shown Offline while the others sync, and the dashboard serving it all. Everything it
# started is stopped at the end (on a terminal, after Enter).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export VMO_TESTBIN="${VMO_TESTBIN:-$root/.cache/testbin}"
vmo="$root/bin/vmo-cue"
kubectl="$VMO_TESTBIN/kubectl"
work="$(mktemp -d /tmp/vmo-demo.XXXXXX)"
repo="$work/fleet-repo"
state="$work/state"
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
[ -t 1 ] || { bold=; dim=; off=; }

step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }
dashboard_pid=
cleanup() {
	step "Stopping everything the demo started"
	if [ -n "$dashboard_pid" ]; then kill "$dashboard_pid" 2>/dev/null || true; wait "$dashboard_pid" 2>/dev/null || true; fi
	hack/clusters.sh down || true
	rm -rf "$work"
}
trap cleanup EXIT

step "Starting local clusters for the example fleet (real kube-apiservers + etcd; about half a minute)"
names="$("$vmo" clusters fleet | paste -sd, -)"
echo "clusters: $names"
export_line="$(CLUSTERS="$names" hack/clusters.sh up | tail -n 1)"
eval "$export_line"
echo "$export_line"

step "A git repository made from fleet/ (git is the single source of truth)"
mkdir -p "$repo"
cp -r fleet/. "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" -c user.name=demo -c user.email=demo@example.com add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -qm "The example fleet"
echo "$repo @ $(git -C "$repo" rev-parse --short HEAD)"

step "vmo-cue vet: every cluster, every error at once (what the pre-commit hook runs)"
run "$vmo" vet "$repo"

sync() { run "$vmo" sync --repo "$repo" --state-dir "$state" --cache-dir "$work/cache" --health accepted "$@"; }
# commit MESSAGE: commit every change in the demo's fleet repository; an empty commit (an edit that no
# longer matches the example fleet) fails the demo instead of rolling out nothing.
commit() {
	git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -qam "$1"
	echo "committed $(git -C "$repo" rev-parse --short HEAD): $1"
}

step "vmo-cue sync: canary first, then the edge sites, then the data centres"
sync

step "vmo-cue status: read from the clusters themselves"
run "$vmo" status --state-dir "$state"

step "Someone changes a VM by hand: a new MAC on edge-store-2's pos-server (as kubectl edit would)"
run "$kubectl" --context edge-store-2 -n vms patch virtualmachine pos-server --type=json \
	-p '[{"op":"add","path":"/spec/template/spec/domain/devices/interfaces/0/macAddress","value":"02:de:ad:be:ef:01"}]'

step "vmo-cue diff finds the drift (exit 1), object by object"
run "$vmo" diff "$repo" --cluster edge-store-2 || true

step "sync --drift report: reported, nothing changed"
sync --drift report || true

step "sync: the drift is corrected"
sync

step "A commit to git: more memory for the POS servers, rolled out wave by wave"
sed -i 's/guest: 6Gi/guest: 8Gi/' "$repo/clusters/edge-store-1/vms/pos.yaml" "$repo/clusters/edge-store-2/vms/store.yaml"
commit "POS servers: 8Gi" # fails the demo if the edit above changed nothing
sync

step "An edge site goes offline: edge-factory-1's API server stops"
pid="$(awk '$1 == "kube-apiserver/edge-factory-1" {print $2}' .cache/clusters/processes)"
run kill -- "-$pid"
sed -i 's/guest: 8Gi/guest: 10Gi/' "$repo/clusters/edge-store-1/vms/pos.yaml"
commit "POS server: 10Gi"
sync --connect-timeout 2s || true
run "$vmo" status --state-dir "$state" --timeout 2s

step "Someone edits a VM by hand again: the dashboard shows the drift"
run "$kubectl" --context edge-store-1 -n vms patch virtualmachine pos-server --type=merge -p '{"spec":{"runStrategy":"Halted"}}'

step "vmo-cue dashboard: the fleet, each cluster, each VM, drift and a MAC/VLAN search (loopback only)"
printf '%s$ %s%s\n' "$dim" "$vmo dashboard $repo --state-dir $state --timeout 2s --listen 127.0.0.1:${DEMO_DASHBOARD_PORT:-0} --allow-commits --push-remote ''" "$off"
"$vmo" dashboard "$repo" --state-dir "$state" --timeout 2s --listen "127.0.0.1:${DEMO_DASHBOARD_PORT:-0}" --allow-commits --push-remote '' \
	>"$work/dashboard.out" 2>"$work/dashboard.log" &
dashboard_pid=$!
url=
for _ in $(seq 1 600); do
	url="$(sed -n 's/^dashboard: //p' "$work/dashboard.out")"
	[ -n "$url" ] && break
	kill -0 "$dashboard_pid" 2>/dev/null || { cat "$work/dashboard.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$url" ] || { echo "the dashboard did not start" >&2; cat "$work/dashboard.log" >&2; exit 1; }
echo "${bold}dashboard: $url${off}  (the fleet; an Offline site; ${url}cluster/edge-store-1 with its drift; ${url}search?q=vlan+20)"

step "What to try next"
cat <<TRY
  make clusters                  # keep local clusters running, then:
  export KUBECONFIG=...          # (printed by make clusters)
  vmo-cue init my-fleet          # a new fleet repository with a pre-commit configuration
  vmo-cue vet fleet              # validate; try a duplicate MAC or a misspelled gate
  vmo-cue build fleet --cluster edge-store-1
  vmo-cue apply fleet --cluster edge-store-1 --drift report
  vmo-cue diff fleet --cluster edge-store-1
  vmo-cue sync --repo https://git.example.com/fleet.git --token-file ~/.fleet-token
  make clusters-down
TRY

if [ -t 0 ] && [ -t 1 ]; then
	read -r -p "The dashboard serves at $url — press Enter to stop everything. " _
fi
