#!/usr/bin/env bash
# rollbot — a throwaway Prometheus for the scenarios and the demo (MIT licence).
#
#   tests/prometheus.sh start [--rules FILE] [--alertmanager HOST:PORT] DIR PORT FAKE_URL INTERVAL NAME…
#        write DIR/prometheus.yml (one scrape job per NAME, FAKE_URL/svc/NAME/metrics
#        every INTERVAL, e.g. 1s), start Debian's prometheus on 127.0.0.1:PORT with its
#        data in DIR/data and its log in DIR/prometheus.log, wait until it is ready
#        and has scraped every NAME once, print its URL (http://127.0.0.1:PORT).
#        A DIR left by `halt` is started again with its data (same port, same jobs).
#        --rules: a rule file (alerting rules), copied to DIR/rules.yml and
#        evaluated every INTERVAL; --alertmanager: where firing alerts go (an
#        Alertmanager such as tests/alertmanager.sh starts).
#   tests/prometheus.sh halt DIR   stop it, keep DIR (a later start resumes)
#   tests/prometheus.sh stop DIR   stop it and remove DIR
# (halt and stop do nothing when DIR does not exist).
#
# The job is named NAME and the exporter labels its series job="NAME" too
# (honor_labels), so a query reads http_requests_total{job="NAME"} either way.
# As root it runs as `prometheus` (the Debian package's user) or `nobody`, DIR
# handed to that user; as anyone else, as the caller. It listens on 127.0.0.1
# only, keeps its data an hour, and neither reaches nor serves anything else.
# Waits are on conditions (/-/ready, then `up` of every job scraped since this
# start), bounded by 60 s (ROLLBOT_PROMETHEUS_WAIT_S).
set -euo pipefail

MARK=.rollbot-prometheus # marks DIR as ours: `stop` removes only such a folder
DAEMON=prometheus
# shellcheck source=tests/daemon.sh
. "$(dirname "$0")/daemon.sh"
WAIT_S=${ROLLBOT_PROMETHEUS_WAIT_S:-60}

usage() {
	echo "usage: tests/prometheus.sh start [--rules FILE] [--alertmanager 127.0.0.1:PORT] DIR PORT FAKE_URL INTERVAL NAME… | halt DIR | stop DIR" >&2
	exit 2
}

# The value of an instant query, or nothing.
query() {
	curl -fsS --noproxy '*' --max-time 2 "$1/api/v1/query" --data-urlencode "query=$2" 2>/dev/null |
		jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true
}

cmd_start() {
	local rules="" am="" dir port fake interval url name n deadline t0 scraped
	while [[ ${1:-} == --* ]]; do
		case $1 in
		--rules) rules=${2:-} ;;
		--alertmanager) am=${2:-} ;;
		*) usage ;;
		esac
		shift 2 || usage
	done
	[[ $# -ge 5 ]] || usage
	dir=$1 port=$2 fake=$3 interval=$4
	shift 4
	[[ -z $rules || -r $rules ]] || die "cannot read the rule file '$rules'"
	[[ -z $am || $am =~ ^127\.0\.0\.1:[0-9]+$ ]] || die "bad Alertmanager address '$am' (127.0.0.1:PORT)"
	command -v prometheus >/dev/null 2>&1 ||
		die "no prometheus binary: install Debian's prometheus package (make deps, as root)"
	command -v jq >/dev/null 2>&1 || die "no jq (make deps, as root)"
	[[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
	[[ $interval =~ ^[0-9]+(ms|s|m)$ ]] || die "bad scrape interval '$interval' (e.g. 1s)"
	mkdir -p -- "$dir"
	dir=$(cd -- "$dir" && pwd -P)
	alive "$dir" && die "a Prometheus already runs in $dir"
	pick_owner
	if [[ ! -e $dir/$MARK ]]; then
		touch "$dir/$MARK"
		mkdir -p "$dir/data"
		{
			echo "# tests/prometheus.sh: scrape the fake's exporter, nothing else"
			echo "global:"
			echo "  scrape_interval: $interval"
			echo "  scrape_timeout: $interval"
			echo "  evaluation_interval: $interval"
			echo "scrape_configs:"
			for name in "$@"; do
				[[ $name =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "bad service name '$name'"
				echo "  - job_name: '$name'"
				echo "    honor_labels: true"
				echo "    metrics_path: /svc/$name/metrics"
				echo "    static_configs:"
				echo "      - targets: ['${fake#http://}']"
			done
			if [[ -n $rules ]]; then
				echo "rule_files: ['$dir/rules.yml']"
			fi
			if [[ -n $am ]]; then
				echo "alerting:"
				echo "  alertmanagers:"
				echo "    - static_configs:"
				echo "        - targets: ['$am']"
			fi
		} >"$dir/prometheus.yml"
		if [[ -n $rules ]]; then
			cp -- "$rules" "$dir/rules.yml"
		fi
		echo "$port" >"$dir/port"
	fi
	port=$(cat "$dir/port")
	url="http://127.0.0.1:$port"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R "$OWNER" "$dir"
		runuser -u "$OWNER" -- test -w "$dir/data" ||
			die "$OWNER cannot reach $dir: make its parent folders traversable (chmod o+x)"
	fi
	cd "$dir"
	t0=$(date +%s)
	as_owner_bg prometheus --config.file="$dir/prometheus.yml" \
		--storage.tsdb.path="$dir/data" --storage.tsdb.retention.time=1h \
		--web.listen-address="127.0.0.1:$port" --web.external-url="$url" \
		--query.lookback-delta=30s --log.level=warn \
		>>"$dir/prometheus.log" 2>&1
	echo $! >"$dir/prometheus.pid"
	n=$#
	deadline=$((SECONDS + WAIT_S)) # ready and scraped, both within WAIT_S
	wait_ready "$dir" "$url"
	# Scraped since this start: after a halt, the samples of the earlier
	# run are still there.
	scraped="count(up == 1 and timestamp(up) >= $t0)"
	until [[ $(query "$url" "$scraped") == "$n" ]]; do
		alive "$dir" || die "prometheus exited before its first scrape (log: $dir/prometheus.log)"
		((SECONDS < deadline)) || die "prometheus did not scrape all of $* within ${WAIT_S}s (scraped: $(query "$url" "$scraped"))"
		sleep 0.1
	done
	echo "$url"
}

[[ $# -ge 2 ]] || usage
case $1 in
start) cmd_start "${@:2}"
	;;
halt) cmd_halt "$2" ;;
stop) cmd_stop "$2" ;;
*) usage ;;
esac
