#!/usr/bin/env bash
# Local clusters for people: real kube-apiservers (one per cluster declared in fleet/) sharing one etcd,
# kept running in the background by hack/clusters (internal/testcluster).
#
#   hack/clusters.sh up     start them (CLUSTERS=a,b chooses the clusters); the last line printed is
#                           `export KUBECONFIG=<path>`, with one context per cluster, named like it
#   hack/clusters.sh down   stop them and remove their state
#
# `make clusters` builds the binaries first (make testenv); state lives in .cache/clusters/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="${VMO_CLUSTERS_DIR:-$root/.cache/clusters}"
testbin="${VMO_TESTBIN:-$root/.cache/testbin}"
export VMO_TESTBIN="$testbin"
GO="${GO:-go}"
daemon="$state/bin/vmo-clusters"

say() { echo "clusters: $*" >&2; }
cmdline_of() { cat "/proc/$1/cmdline" 2>/dev/null | tr '\0' ' '; }

# The pid of the running daemon, or nothing. The pid file is only trusted if that process is ours.
daemon_pid() {
	local pid
	pid="$(cat "$state/pid" 2>/dev/null)" || return 0
	[[ "$pid" =~ ^[0-9]+$ ]] || return 0
	if grep -q "vmo-clusters" <<<"$(cmdline_of "$pid")"; then
		echo "$pid"
	fi
}

# Cluster names: $CLUSTERS, else `vmo-cue clusters fleet`, else the folders of fleet/clusters/.
cluster_names() {
	if [ -n "${CLUSTERS:-}" ]; then
		echo "$CLUSTERS" | tr ', ' '\n\n' | sed '/^$/d'
		return
	fi
	local out
	if out="$(cd "$root" && $GO run ./cmd/vmo-cue clusters fleet 2>/dev/null)" && [ -n "$out" ]; then
		echo "$out"
		return
	fi
	if [ -d "$root/fleet/clusters" ]; then
		find "$root/fleet/clusters" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort
	fi
}

up() {
	local pid names kubeconfig
	pid="$(daemon_pid)"
	if [ -n "$pid" ] && [ -f "$state/ready" ]; then
		kubeconfig="$(sed -n 's/^kubeconfig //p' "$state/ready")"
		say "already running (pid $pid): $(cut -d' ' -f1 "$state/processes" | grep kube-apiserver/ | sed 's|kube-apiserver/||' | paste -sd, -)"
		say "to start other clusters: make clusters-down first"
		echo "export KUBECONFIG=$kubeconfig"
		return
	fi
	[ -z "$pid" ] || down # half-started: start again from nothing
	rm -rf "$state"

	names="$(cluster_names | paste -sd, -)"
	if [ -z "$names" ]; then
		say "no clusters declared in fleet/ (neither \`vmo-cue clusters fleet\` nor fleet/clusters/*): set CLUSTERS=a,b"
		exit 1
	fi
	say "starting ${names//,/, }"
	mkdir -p "$state/bin"
	(cd "$root" && $GO build -o "$daemon" ./hack/clusters)

	# In the background, in its own session, immune to the terminal closing; its children die with it.
	setsid "$daemon" -dir "$state" -clusters "$names" >"$state/clusters.log" 2>&1 </dev/null &
	local started=$SECONDS
	while [ ! -f "$state/ready" ]; do
		if ! kill -0 $! 2>/dev/null; then
			say "failed to start; its log ($state/clusters.log):"
			sed 's/^/  /' "$state/clusters.log" >&2
			rm -rf "$state"
			exit 1
		fi
		if ((SECONDS - started > 180)); then
			say "not ready after 180s; stopping (log: $state/clusters.log)"
			down
			exit 1
		fi
		sleep 0.2
	done
	kubeconfig="$(sed -n 's/^kubeconfig //p' "$state/ready")"

	# Every context must answer, as a person's kubectl would use it.
	local kubectl="$testbin/kubectl"
	[ -x "$kubectl" ] || kubectl="$(command -v kubectl || true)"
	if [ -n "$kubectl" ]; then
		local name
		for name in ${names//,/ }; do
			if ! "$kubectl" --kubeconfig "$kubeconfig" --context "$name" get ns >/dev/null; then
				say "kubectl get ns fails against context $name; stopping"
				down
				exit 1
			fi
		done
	fi
	# A declaration may name its own context (dc-east: platform-admin@dc-east-prod): make it too, so that
	# `vmo-cue apply fleet --cluster dc-east` works as it would against the real cluster.
	local pairs ctxs=""
	if [ -n "$kubectl" ] && pairs="$(cd "$root" && $GO run ./cmd/vmo-cue clusters --contexts fleet 2>/dev/null)"; then
		local cname cctx
		while read -r cname cctx; do
			if [ -n "$cctx" ] && [ "$cctx" != "$cname" ] && [[ ",$names," == *",$cname,"* ]]; then
				"$kubectl" --kubeconfig "$kubeconfig" config set-context "$cctx" --cluster="$cname" --user="$cname-admin" >/dev/null
				ctxs="$ctxs, $cctx (for $cname)"
			fi
		done <<<"$pairs"
	fi
	sed 's/^/  /' "$state/clusters.log" >&2
	say "running in the background (pid $(cat "$state/pid")); contexts: ${names//,/, }$ctxs; logs in $state/run"
	say "try: kubectl --context ${names%%,*} get ns    stop: make clusters-down"
	echo "export KUBECONFIG=$kubeconfig"
}

down() {
	local pid pgids=() i
	pid="$(daemon_pid)"
	if [ -f "$state/processes" ]; then
		mapfile -t pgids < <(awk '{print $2}' "$state/processes")
	fi
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# The daemon stops its children; if it could not, kill their process groups (only if the group
	# leader is still one of ours: its command line names this state folder).
	for i in "${pgids[@]}"; do
		if [[ "$i" =~ ^[0-9]+$ ]] && grep -qF -- "$state/run" <<<"$(cmdline_of "$i")"; then
			kill -KILL -- "-$i" 2>/dev/null || true
		fi
	done
	if [ -n "$pid" ] || [ "${#pgids[@]}" -gt 0 ]; then
		say "stopped"
	else
		say "no clusters running"
	fi
	rm -rf "$state"
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
