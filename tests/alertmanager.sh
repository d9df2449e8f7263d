#!/usr/bin/env bash
# rollbot — a throwaway Alertmanager for the scenarios (MIT licence).
#
#   tests/alertmanager.sh start DIR PORT WEBHOOK_URL
#        write DIR/alertmanager.yml (one route, short waits, one webhook
#        receiver posting to WEBHOOK_URL with `Authorization: Bearer TOKEN`,
#        TOKEN from the environment's ROLLBOT_ALERTMANAGER_TOKEN, as rollbot
#        reads it, kept in DIR/token), start
#        Debian's prometheus-alertmanager on 127.0.0.1:PORT with its data in
#        DIR/data and its log in DIR/alertmanager.log, wait until it is
#        ready, print its URL (http://127.0.0.1:PORT).
#   tests/alertmanager.sh stop DIR   stop it and remove DIR
#   tests/alertmanager.sh halt DIR   stop it, keep DIR (its log, for a failed scenario)
# (halt and stop do nothing when DIR does not exist).
#
# The route groups by alertname and job, waits 1 s before the first
# notification of a group (group_wait: the floor of how soon rollbot hears
# of an alert) and 1 s between later ones, and repeats after an hour;
# resolved alerts are sent too (rollbot ignores them). The token is in a
# file (credentials_file), never on a command line. Like tests/prometheus.sh:
# as root it runs as `prometheus` (the Debian packages' user) or `nobody`,
# DIR handed to that user; as anyone else, as the caller. It listens on
# 127.0.0.1 only, with clustering off (no gossip port), and reaches nothing
# but WEBHOOK_URL. Waits are on conditions (/-/ready), bounded by 60 s
# (ROLLBOT_ALERTMANAGER_WAIT_S).
set -euo pipefail

MARK=.rollbot-alertmanager # marks DIR as ours: `stop` removes only such a folder
DAEMON=alertmanager
# shellcheck source=tests/daemon.sh
. "$(dirname "$0")/daemon.sh"
WAIT_S=${ROLLBOT_ALERTMANAGER_WAIT_S:-60}
BIN=prometheus-alertmanager # Debian's name for the alertmanager binary

usage() {
	echo "usage: tests/alertmanager.sh start DIR PORT WEBHOOK_URL | halt DIR | stop DIR" >&2
	exit 2
}

cmd_start() {
	local dir=$1 port=$2 hook=$3 url token
	command -v "$BIN" >/dev/null 2>&1 ||
		die "no $BIN binary: install Debian's prometheus-alertmanager package (make deps, as root)"
	[[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
	[[ $hook =~ ^http://127\.0\.0\.1:[0-9]+/[A-Za-z0-9/._-]*$ ]] ||
		die "bad webhook URL '$hook' (http://127.0.0.1:PORT/PATH)"
	token=${ROLLBOT_ALERTMANAGER_TOKEN:-}
	[[ -n $token ]] || die "no token: set ROLLBOT_ALERTMANAGER_TOKEN"
	mkdir -p -- "$dir"
	dir=$(cd -- "$dir" && pwd -P)
	[[ ! -e $dir/$MARK ]] || die "$dir is already in use"
	pick_owner
	touch "$dir/$MARK"
	mkdir -p "$dir/data"
	(
		umask 077
		printf '%s\n' "$token" >"$dir/token"
	)
	cat >"$dir/alertmanager.yml" <<-EOF
		# tests/alertmanager.sh: every alert to rollbot's webhook, quickly
		route:
		  receiver: rollbot
		  group_by: ['alertname', 'job']
		  group_wait: 1s
		  group_interval: 1s
		  repeat_interval: 1h
		receivers:
		  - name: rollbot
		    webhook_configs:
		      - url: '$hook'
		        send_resolved: true
		        http_config:
		          authorization:
		            type: Bearer
		            credentials_file: '$dir/token'
	EOF
	url="http://127.0.0.1:$port"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R "$OWNER" "$dir"
		runuser -u "$OWNER" -- test -w "$dir/data" ||
			die "$OWNER cannot reach $dir: make its parent folders traversable (chmod o+x)"
	fi
	cd "$dir"
	as_owner_bg "$BIN" --config.file="$dir/alertmanager.yml" \
		--storage.path="$dir/data" --data.retention=1h \
		--web.listen-address="127.0.0.1:$port" --web.external-url="$url" \
		--cluster.listen-address= \
		>>"$dir/alertmanager.log" 2>&1
	echo $! >"$dir/alertmanager.pid"
	wait_ready "$dir" "$url"
	echo "$url"
}

[[ $# -ge 2 ]] || usage
case $1 in
start)
	[[ $# -eq 4 ]] || usage
	cmd_start "${@:2}"
	;;
halt) cmd_halt "$2" ;;
stop) cmd_stop "$2" ;;
*) usage ;;
esac
