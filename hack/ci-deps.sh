#!/usr/bin/env bash
# Installs the Debian packages the tests need that are not there yet; the CI script calls it before
# `go test`: pre-commit (Debian ships 3.0.x), used by test/precommit to run this repository's
# .pre-commit-hooks.yaml through the real tool, and git, whose git-upload-pack and git-http-backend
# (/usr/lib/git-core) serve the test remotes of internal/source, and chromium, the headless browser
# of internal/dashboard's browser test (driven with chromedp). Nothing is done for a tool already on
# PATH.
set -euo pipefail

say() { echo "ci-deps: $*"; }

# Debian package per command that must be on PATH.
declare -A want=([pre-commit]=pre-commit [git]=git [chromium]=chromium)

missing=()
for cmd in "${!want[@]}"; do
	if path="$(command -v "$cmd")"; then
		say "$cmd found at $path ($("$cmd" --version 2>/dev/null || echo 'version unknown')), nothing to install"
	else
		say "$cmd not on PATH: will install Debian package ${want[$cmd]}"
		missing+=("${want[$cmd]}")
	fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		say "not root and no sudo: install ${missing[*]} by hand (apt-get install -y ${missing[*]})" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
say "running: ${sudo[*]:+${sudo[*]} }apt-get update"
"${sudo[@]}" apt-get update
say "running: ${sudo[*]:+${sudo[*]} }apt-get install -y ${missing[*]}"
"${sudo[@]}" apt-get install -y "${missing[@]}"

for cmd in "${!want[@]}"; do
	if ! command -v "$cmd" >/dev/null; then
		say "$cmd still not on PATH after installing ${want[$cmd]}" >&2
		exit 1
	fi
	say "installed: $("$cmd" --version)"
done
