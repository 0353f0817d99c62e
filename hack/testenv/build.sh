#!/usr/bin/env bash
# Builds the pinned test API servers (kube-apiserver, etcd) and kubectl from source through the Go
# module proxy into the folder given as $1 (the Makefile passes $(TESTBIN), default .cache/testbin).
# Versions come from versions.env only. A folder whose binaries match the pins is reused as it is,
# so a second run takes seconds; the first one takes several minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../.cache/testbin}"
# shellcheck source=versions.env
source "$here/versions.env"
export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=readonly
GO="${GO:-go}"

start=$SECONDS
say() { echo "testenv: $*"; }
elapsed() { echo "$((SECONDS - start))s"; }
# step runs a command, saying every 30 s that it still runs, so a long compile does not look stuck.
step() {
	"$@" &
	local pid=$! rc=0
	(while sleep 30; do say "  ... still working ($(elapsed))"; done) &
	local beat=$!
	wait "$pid" || rc=$?
	kill "$beat" 2>/dev/null || true
	wait "$beat" 2>/dev/null || true
	return "$rc"
}

# The modules must match the pins: versions.env is the one place where versions are changed.
check_pin() { # module-dir module version
	if ! grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2 $3( |$)" "$here/$1/go.mod"; then
		echo "testenv: hack/testenv/$1/go.mod does not require $2 $3 as versions.env says;" \
			"run hack/testenv/update-modules.sh and commit the result" >&2
		exit 1
	fi
}
check_pin kube k8s.io/kubernetes "$KUBERNETES_VERSION"
check_pin etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"

# What the binaries in $out were built from: the pins, the toolchain and the exact module graphs.
go_version="$($GO env GOVERSION)"
mods_sum="$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/etcd/go.mod "$here"/etcd/go.sum | sha256sum | cut -c1-16)"
stamp="kubernetes=$KUBERNETES_VERSION etcd=$ETCD_VERSION go=$go_version modules=$mods_sum"
binaries=(kube-apiserver kubectl etcd)

up_to_date=true
for b in "${binaries[@]}"; do [ -x "$out/$b" ] || up_to_date=false; done
[ "$(cat "$out/VERSION" 2>/dev/null)" = "$stamp" ] || up_to_date=false
if $up_to_date; then
	say "up to date in $out (kube-apiserver $KUBERNETES_VERSION, etcd $ETCD_VERSION), $(elapsed)"
	exit 0
fi

say "building kube-apiserver and kubectl $KUBERNETES_VERSION and etcd $ETCD_VERSION with $go_version into $out"
say "the first build downloads the modules and compiles Kubernetes: expect several minutes (about 5 on 2 cores);"
say "later runs reuse the binaries and the Go build cache"
mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
rm -f "$out/VERSION"

say "[1/4] downloading modules for kube-apiserver and kubectl ($(elapsed))"
(cd "$here/kube" && step $GO mod download)

minor="${KUBERNETES_VERSION#v1.}"
minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
say "[2/4] compiling kube-apiserver and kubectl $KUBERNETES_VERSION (the long step) ($(elapsed))"
(cd "$here/kube" && step $GO build -ldflags "$ldflags" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)

say "[3/4] downloading and compiling etcd $ETCD_VERSION ($(elapsed))"
(cd "$here/etcd" && step $GO mod download && step $GO build -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)

say "[4/4] checking the binaries ($(elapsed))"
"$tmp/kube-apiserver" --version
"$tmp/kubectl" version --client
etcd_version="$("$tmp/etcd" --version)" # no `| head` under pipefail: etcd would die of SIGPIPE
echo "${etcd_version%%$'\n'*}"
for b in "${binaries[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
echo "$stamp" >"$out/VERSION"
say "done in $(elapsed): $(cd "$out" && du -sh "${binaries[@]}" | tr '\t\n' '  ')"
