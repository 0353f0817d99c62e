#!/usr/bin/env bash
# make bench: measure vmo-cue vet and build on generated 1k-, 10k- and 100k-VM fleets (100,000 VMs in 100
# clusters and in 1,000), and upstream `cue vet` (built at the cuelang.org/go version of go.mod) on the
# 1k and 10k fleets.
#
# Fleets are generated into .cache/bench/ (git-ignored) and reused until the generator or the vendored
# CUE module changes. Each command runs BENCH_RUNS times (default 5): first, min and median wall time and
# peak RSS are reported, with PASS/MISS per target. A MISS is a measurement, not a failure; a command
# that fails (non-zero exit) fails this script.
#
# Environment: BENCH_RUNS (runs per command), BENCH_RUNS_100K (runs per 100k command, default 3 or
# BENCH_RUNS if fewer), BENCH_100K=0 (skip the 100k fleets), BENCH_UPSTREAM=0 (skip upstream cue vet),
# BENCH_ONLY=REGEX (measure only the ids matching it, e.g. BENCH_ONLY='vet-10k-(yaml|cue)'; the fleets
# of the others are still generated).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
RUNS=${BENCH_RUNS:-5}
RUNS_100K=${BENCH_RUNS_100K:-$((RUNS < 3 ? RUNS : 3))}
BIG=${BENCH_100K:-1}
UPSTREAM=${BENCH_UPSTREAM:-1}
ONLY=${BENCH_ONLY:-}
CACHE=$ROOT/.cache
BENCH=$CACHE/bench
mkdir -p "$BENCH" "$CACHE/bin"

say() { printf '==> %s\n' "$*" >&2; }

# Measure a private copy of bin/vmo-cue (built by `make build` just before): bin/ is shared with
# whoever else builds in this tree during the minutes the measurements take.
[[ -x bin/vmo-cue ]] || { say "building bin/vmo-cue"; $GO build -o bin/vmo-cue ./cmd/vmo-cue; }
BIN=$CACHE/bin/vmo-cue-bench
cp bin/vmo-cue "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
say "measuring vmo-cue $(git describe --always --dirty 2>/dev/null || echo '(no git)') (copied to $BIN)"

say "building hack/genfleet and hack/benchrun"
$GO build -o "$CACHE/bin/genfleet" ./hack/genfleet
$GO build -o "$CACHE/bin/benchrun" ./hack/benchrun

# Upstream cue at the version vmo-cue is built with.
CUE_VERSION=$(awk '$1 == "cuelang.org/go" { print $2; exit }' go.mod)
[[ -n $CUE_VERSION ]] || { echo "bench: no cuelang.org/go in go.mod" >&2; exit 1; }
CUE=$CACHE/bin/cue
if [[ $UPSTREAM != 0 ]]; then
	have=$([[ -x $CUE ]] && "$CUE" version 2>/dev/null || true)
	if [[ $have == "cue version $CUE_VERSION"* ]]; then
		say "reusing upstream cue $CUE_VERSION ($CUE)"
	else
		say "building upstream cue $CUE_VERSION into $CUE (a minute the first time)"
		GOBIN=$CACHE/bin $GO install "cuelang.org/go/cmd/cue@$CUE_VERSION"
		have=$("$CUE" version)
		[[ $have == "cue version $CUE_VERSION"* ]] || { echo "bench: $CUE is not cue $CUE_VERSION: ${have%%$'\n'*}" >&2; exit 1; }
	fi
fi

# The generator's fingerprint: its code and the CUE module it vendors into every fleet.
stamp=$( {
	cat internal/genfleet/*.go hack/genfleet/*.go cue.mod/module.cue
	find schemas policies cue -name '*.cue' | LC_ALL=C sort | xargs cat
} | sha256sum | cut -d' ' -f1)

# fleet NAME CLUSTERS VMS FORM: generate .cache/bench/NAME unless it is there for this generator.
fleet() {
	local name=$1 clusters=$2 vms=$3 form=$4 dir=$BENCH/$1
	local want="$stamp $clusters $vms $form"
	if [[ -d $dir && -f $dir.stamp && $(cat "$dir.stamp") == "$want" ]]; then
		say "reusing fleet $dir"
		return
	fi
	say "generating fleet $dir: $clusters clusters, $vms VMs, $form form"
	rm -rf "$dir" "$dir.stamp"
	"$CACHE/bin/genfleet" -out "$dir" -clusters "$clusters" -vms "$vms" -form "$form"
	echo "$want" >"$dir.stamp"
}
fleet fleet-1k-cue 10 1000 cue
fleet fleet-10k-cue 100 10000 cue
fleet fleet-10k-yaml 100 10000 yaml
if [[ $BIG != 0 ]]; then
	fleet fleet-100k-100-cue 100 100000 cue
	fleet fleet-100k-1000-cue 1000 100000 cue
fi

RESULTS=$BENCH/results.jsonl
rm -f "$RESULTS"
IDS=()
measure() { # measure ID LABEL [-dir DIR] -- COMMAND...
	local id=$1 label=$2
	shift 2
	IDS+=("$id")
	if [[ -n $ONLY && ! $id =~ ^($ONLY)$ ]]; then
		return
	fi
	"$CACHE/bin/benchrun" run -n "${N:-$RUNS}" -out "$RESULTS" -id "$id" -label "$label" "$@"
}

say "measuring ($RUNS runs each; $(nproc) CPUs)"
measure vet-10k-cue "vmo-cue vet 10k (CUE form)" -- "$BIN" vet "$BENCH/fleet-10k-cue"
measure vet-10k-yaml "vmo-cue vet 10k (YAML form)" -- "$BIN" vet "$BENCH/fleet-10k-yaml"
measure vet-1k-cue "vmo-cue vet 1k (CUE form)" -- "$BIN" vet "$BENCH/fleet-1k-cue"
measure build-10k-cue "vmo-cue build --cluster c-000 10k (CUE form)" -- "$BIN" build --cluster c-000 "$BENCH/fleet-10k-cue"
if [[ $BIG != 0 ]]; then
	N=$RUNS_100K measure vet-100k-100-cue "vmo-cue vet 100k/100 clusters (CUE)" -- "$BIN" vet "$BENCH/fleet-100k-100-cue"
	N=$RUNS_100K measure vet-100k-1000-cue "vmo-cue vet 100k/1,000 clusters (CUE)" -- "$BIN" vet "$BENCH/fleet-100k-1000-cue"
fi
if [[ $UPSTREAM != 0 ]]; then
	measure cue-vet-10k "cue vet ./... 10k (CUE form)" -dir "$BENCH/fleet-10k-cue" -- "$CUE" vet ./...
	measure cue-vet-1k "cue vet ./... 1k (CUE form)" -dir "$BENCH/fleet-1k-cue" -- "$CUE" vet ./...
fi

if [[ ! -s $RESULTS ]]; then
	say "BENCH_ONLY='$ONLY' matches none of the measurements: ${IDS[*]}"
	exit 2
fi
"$CACHE/bin/benchrun" report "$RESULTS"
