#!/usr/bin/env bash
# rollbot: install the Debian packages the build and the tests need.
#
# Called by `make test`, `make demo` and `make bench` (target `deps`) on a
# Debian 12 machine. It asks dpkg once which packages are installed and runs
# apt-get only for the missing ones, so on a ready machine it prints nothing
# and returns at once. Not root and something missing: it prints the command
# to run and exits 1. Installing `postgresql` may start Debian's own cluster
# service; that is harmless, the tests start their own throwaway cluster.
# Likewise `prometheus` and `prometheus-alertmanager` may start Debian's own
# services on their default ports; the scenarios start their own Prometheus
# (tests/prometheus.sh) and Alertmanager (tests/alertmanager.sh, clustering
# off) on free ports of 127.0.0.1.
set -euo pipefail

# Packages, in the order apt-get is given them. Two entries are satisfied by
# alternatives, see is_present: build-essential by gcc + make + libc6-dev, and
# postgresql by any versioned server package (postgresql-15 on bookworm).
wanted=(
	build-essential
	pkg-config
	libwebsockets-dev
	libwebsockets-evlib-uv
	libuv1-dev
	libcurl4-openssl-dev
	libjansson-dev
	libyaml-dev
	libpq-dev
	libcmocka-dev
	uthash-dev
	postgresql
	curl
	jq
	util-linux
	shellcheck
	python3-yaml
	prometheus
	prometheus-alertmanager
)

# One dpkg-query for everything: "name status" per installed-or-known package.
# Unknown names make dpkg-query complain and exit 1; they are simply absent
# from the output, which is all we need.
declare -A installed=()
while read -r name want ok state; do
	if [[ "$want $ok $state" == "install ok installed" ]]; then
		installed["${name%%:*}"]=1
	fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' \
	"${wanted[@]}" gcc make libc6-dev 'postgresql-[0-9]*' 2>/dev/null || true)

is_present() {
	local pkg=$1 name
	[[ -n "${installed[$pkg]:-}" ]] && return 0
	case $pkg in
	build-essential)
		[[ -n "${installed[gcc]:-}" && -n "${installed[make]:-}" &&
			-n "${installed[libc6-dev]:-}" ]] && return 0
		;;
	postgresql)
		for name in "${!installed[@]}"; do
			[[ $name =~ ^postgresql-[0-9]+$ ]] && return 0
		done
		;;
	esac
	return 1
}

missing=()
for pkg in "${wanted[@]}"; do
	is_present "$pkg" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root:" >&2
	echo "  apt-get update && $install_cmd" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages: ${missing[*]}, and no apt-get on this machine" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}" >&2
# Wait for a dpkg lock held by another apt (unattended-upgrades, a parallel
# job) instead of failing at once.
lock=(-o DPkg::Lock::Timeout=300)
apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq \
	--no-install-recommends "${missing[@]}"
echo "deps: done" >&2
