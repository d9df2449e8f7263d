#!/usr/bin/env bash
# rollbot — the failover part of `make bench` (not part of `make test`): two
# replicas on one throwaway PostgreSQL and the local fake Slack; the replica
# that carries an incident waiting for approval is killed (SIGKILL), and the
# time until the other does the incident's next action (it takes the incident
# over and reads the approval request's reactions: reactions.get from its
# /r/K/ prefix) is measured. Target: at most 5 s (a 3 s lease, renewed and
# looked at every second).
#
#   tests/bench-failover.sh BUILD_DIR
#
# TRIALS kills in all (environment BENCH_FAILOVER_TRIALS, default 5), the
# replicas taking turns; each killed replica is started again before the
# next trial. Everything listens on 127.0.0.1 or a Unix socket, and every
# process started here is stopped and every file removed on exit.
#
# Exit status: 1 when a correctness check fails (the incident not taken
# over within 30 s, a backend run, an approval request posted twice) or the
# bench cannot run. A failover slower than the target prints FAIL but exits
# 0, as the other timings of the bench do.
set -euo pipefail

if (($# != 1)); then
	echo "usage: tests/bench-failover.sh BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRIALS=${BENCH_FAILOVER_TRIALS:-5}
TARGET_MS=5000
[[ $TRIALS =~ ^[1-9][0-9]?$ ]] || {
	echo "bench: BENCH_FAILOVER_TRIALS must be 1 to 99" >&2
	exit 2
}

work=$(mktemp -d /tmp/rollbot-failover.XXXXXX)
chmod 755 "$work"
{
	cat tests/scenarios/rollbot.yaml
	for ((i = 1; i <= TRIALS; i++)); do
		printf '  svc-%04d:\n    method: kubectl\n    namespace: bench\n    deployment: svc-%04d\n' "$i" "$i"
	done
} >"$work/rollbot.yaml"
declare -A bot_pid=()
fake_pid=""
pg_started=""
export PGCONNECT_TIMEOUT=5

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local rc=$? k
	set +e
	trap - EXIT INT TERM
	for k in "${!bot_pid[@]}"; do
		kill -TERM "${bot_pid[$k]}" 2>/dev/null
		wait "${bot_pid[$k]}" 2>/dev/null
	done
	if [[ -n $fake_pid ]]; then
		kill -TERM "$fake_pid" 2>/dev/null
		wait "$fake_pid" 2>/dev/null
	fi
	[[ -n $pg_started ]] && tests/pg.sh stop "$work/pg" >/dev/null 2>&1
	if [[ -n ${BENCH_KEEP:-} ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	local k
	echo "bench: $*" >&2
	for k in 1 2; do
		[[ -s $work/bot-$k.log ]] || continue
		echo "bench: last lines of replica $k's log:" >&2
		tail -n 10 "$work/bot-$k.log" >&2
	done
	exit 1
}

ctl() {
	if (($# > 1)); then
		curl -sS --fail-with-body --max-time 10 -H 'Content-Type: application/json' \
			--data-binary "$2" "$base$1"
	else
		curl -sS --fail-with-body --max-time 30 "$base$1"
	fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start K: starts replica K and waits for its socket.
start() {
	local k=$1 t0
	SLACK_APP_TOKEN=xapp-1-bench SLACK_BOT_TOKEN=xoxb-bench DATABASE_URL="$DATABASE_URL" \
		SLACK_API_URL="$base/r/$k/api/" ROLLBOT_REPLICA="replica-$k" \
		"$BUILD/rollbot" run --config "$work/rollbot.yaml" --log-level info \
		>>"$work/bot-$k.log" 2>&1 &
	bot_pid[$k]=$!
	t0=$(now_ms)
	until [[ $(ctl /_fake/state | jq --arg k "$k" '.replicas[$k].sockets_open // 0') -ge 1 ]]; do
		kill -0 "${bot_pid[$k]}" 2>/dev/null || die "replica $k exited at start"
		(($(now_ms) - t0 < 20000)) || die "replica $k did not connect within 20 s"
		sleep 0.05
	done
}

# calls METHOD REPLICA: how many calls of METHOD the fake has from REPLICA.
calls() {
	ctl "/_fake/calls?method=$1" | jq --argjson k "$2" '[.calls[] | select(.replica == $k)] | length'
}

echo "bench: failover: two replicas, a throwaway PostgreSQL and the fake Slack…"
mkdir -p "$work/pg"
pg_started=1
DATABASE_URL=$(tests/pg.sh start "$work/pg" | tail -n 1)
[[ -n $DATABASE_URL ]] || die "tests/pg.sh start printed no DATABASE_URL"
"$BUILD/fake_slack" --port 0 --port-file "$work/port" --log "$work/fake.log" 2>"$work/fake.err" &
fake_pid=$!
for ((i = 0; i < 200; i++)); do
	[[ -s $work/port ]] && break
	sleep 0.05
done
[[ -s $work/port ]] || die "fake_slack wrote no port file in 10 s"
base="http://127.0.0.1:$(<"$work/port")"
start 1
start 2

results=()
for ((t = 1; t <= TRIALS; t++)); do
	carrier=$((t % 2 == 1 ? 1 : 2))
	other=$((3 - carrier))
	svc=$(printf 'svc-%04d' "$t")
	ctl /_fake/route "{\"replica\":$carrier}" >/dev/null
	before=$(calls reactions.get "$other")
	ctl /_fake/envelope "$(jq -nc --arg s "$svc --to 41 --reason bench" \
		'{slash: $s, user: "U02JD0E4512", channel: "C05K8Q2V7XM"}')" >/dev/null
	t0=$(now_ms)
	until [[ $(ctl /_fake/calls?method=chat.postMessage |
		jq --arg s "$svc" '[.calls[] | select(.args.text | test("Approval needed: roll back " + $s + " "))] | length') -ge 1 ]]; do
		(($(now_ms) - t0 < 20000)) || die "no approval request for $svc within 20 s"
		sleep 0.05
	done
	sleep 0.2 # its save and the bot's own reactions
	kill -KILL "${bot_pid[$carrier]}"
	killed=$(now_ms)
	{ wait "${bot_pid[$carrier]}"; } 2>/dev/null || true
	unset "bot_pid[$carrier]"
	until (($(calls reactions.get "$other") > before)); do
		(($(now_ms) - killed < 30000)) || die "replica $other did not take $svc over within 30 s"
		sleep 0.02
	done
	ms=$(($(now_ms) - killed))
	results+=("$ms")
	echo "bench: trial $t: replica $carrier killed; replica $other took $svc over and acted after $ms ms"
	start "$carrier"
done

n=$(ctl /_fake/calls?method=chat.postMessage | jq '[.calls[] | select(.args.text | test("Approval needed"))] | length')
((n == TRIALS)) || die "$n approval requests posted for $TRIALS incidents: one was posted twice"
[[ ! -s $work/stub-calls.jsonl ]] || die "a backend ran"
max=0
sum=0
for ms in "${results[@]}"; do
	((ms > max)) && max=$ms
	sum=$((sum + ms))
done
verdict=ok
((max <= TARGET_MS)) || verdict=FAIL
printf 'bench: failover (kill → the other replica acts): mean %d ms, max %d ms over %d kills (target ≤ %d ms): %s\n' \
	$((sum / TRIALS)) "$max" "$TRIALS" "$TARGET_MS" "$verdict"
