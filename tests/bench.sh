#!/usr/bin/env bash
# rollbot — `make bench` (not part of `make test`): ack latency, throughput and
# memory of the real bot under a burst of 2,000 /rollback slash commands sent
# by the local fake Slack, with a throwaway PostgreSQL made slow on purpose.
#
#   tests/bench.sh BUILD_DIR
#
# PostgreSQL gets a BEFORE INSERT trigger on processed_deliveries that sleeps
# 2 ms per row. The bot talks to it over one connection, so its database queue
# falls seconds behind the burst; the acks must not notice, because the bot
# acks an envelope the moment it is parsed (bot/sm.c, DESIGN, "Acks").
#
# The numbers come from the fake's own records (GET /_fake/acks: sent_us,
# acked_us, latency_us on its monotonic clock; GET /_fake/calls) and from the
# bot's /proc/PID/status, sampled every 100 ms. Everything listens on
# 127.0.0.1 or a Unix socket, the load is bounded (2,000 envelopes), and every
# process started here is stopped and every file removed on exit.
#
# Exit status: 1 when a correctness check fails (an envelope not acked, an
# incident not recorded, an announcement lost or posted twice, a protocol
# error, an unclean exit on SIGTERM) or the bench cannot run. A missed
# performance target (p99 ack, RssAnon, peak RSS) prints FAIL but exits 0:
# the machine running the bench may be loaded or slow, and timing on a shared
# CI runner is not a verdict on the code.
#
# Two ways to send (environment BENCH_MODE):
# - "paced" (default): one envelope every BENCH_INTERVAL_US microseconds
#   (default 1000, i.e. 1,000 commands a second, twice what the slowed
#   database can take), released by the fake's own timer. This is what the
#   p99 target is about: the latency of an ack at a given load.
# - "burst": BENCH_BATCH envelopes (default 100, a divisor of 2,000) per
#   control call, written back to back. An envelope's latency then includes
#   waiting behind the ones before it in the same burst: a measure of
#   throughput and of memory under a pile-up, not of a lone ack.
# BENCH_ANNOUNCE_RE (default "🚨|:rotating_light:") tells announcements from
# other posts.
set -euo pipefail

if (($# != 1)); then
	echo "usage: tests/bench.sh BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE_CONFIG=tests/scenarios/rollbot-http.yaml # serves /metrics on 127.0.0.1:18089
TOTAL=2000                # slash envelopes sent
MODE=${BENCH_MODE:-paced}
BATCH=${BENCH_BATCH:-100}              # burst: envelopes per POST /_fake/envelope
INTERVAL_US=${BENCH_INTERVAL_US:-1000} # paced: one envelope every … µs
SLASH_USER=U02JD0E4512
SLASH_CHANNEL=C05K8Q2V7XM
# One service per command: rollbot runs one rollback per service at a time,
# so 2,000 incidents need 2,000 services (svc-0001…, added to the config).
SLASH_TEXT=${BENCH_TEXT:-'svc-{n} --to 41 --severity P1 --reason "bench"'}
PG_SLEEP=0.002 # seconds per processed_deliveries insert
# An announcement is a chat.postMessage carrying the 🚨 of
# templates/announcement.mustache (or its shortcode, should a template use it).
ANNOUNCE_RE=${BENCH_ANNOUNCE_RE:-'🚨|:rotating_light:'}

# Targets. Performance: report only. Correctness: exit 1.
P99_TARGET_US=1000           # p99 ack latency < 1 ms
ANON_TARGET_KB=$((6 * 1024)) # RssAnon < 6 MB
HWM_TARGET_KB=$((16 * 1024)) # peak RSS (VmHWM) < 16 MB

if [[ $MODE != paced && $MODE != burst ]]; then
	echo "bench: BENCH_MODE must be paced or burst" >&2
	exit 2
fi
if ! [[ $INTERVAL_US =~ ^[1-9][0-9]*$ ]]; then
	echo "bench: BENCH_INTERVAL_US must be a positive number of microseconds" >&2
	exit 2
fi
if [[ $MODE == paced ]]; then
	BATCH=$TOTAL # one control call; the fake paces the envelopes
fi
if ! [[ $BATCH =~ ^[1-9][0-9]*$ ]] || ((TOTAL % BATCH != 0)); then
	echo "bench: BENCH_BATCH must divide $TOTAL" >&2
	exit 2
fi
for tool in curl jq psql; do
	command -v "$tool" >/dev/null || {
		echo "bench: $tool is needed (make deps installs it)" >&2
		exit 1
	}
done
for f in "$BUILD/rollbot" "$BUILD/fake_slack"; do
	[[ -x $f ]] || {
		echo "bench: $f is missing: run make first" >&2
		exit 1
	}
done
for f in "$BASE_CONFIG" tests/pg.sh; do
	[[ -e $f ]] || {
		echo "bench: $f is missing" >&2
		exit 1
	}
done

work=$(mktemp -d /tmp/rollbot-bench.XXXXXX)
chmod 755 "$work"
CONFIG="$work/rollbot.yaml"
{
	cat "$BASE_CONFIG"
	for ((i = 1; i <= TOTAL; i++)); do
		printf '  svc-%04d:\n    method: kubectl\n    namespace: bench\n    deployment: svc-%04d\n' "$i" "$i"
	done
} >"$CONFIG"
bot_pid=""
fake_pid=""
sampler_pid=""
pg_started=""
bench_done=""
export PGCONNECT_TIMEOUT=5

# Stops what this script started, in reverse order, and reports how the bot
# exited on SIGTERM. Runs on every exit; never aborts half-way.
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local rc=$? status waited
	set +e
	trap - EXIT INT TERM
	if [[ -n $sampler_pid ]]; then
		kill -TERM "$sampler_pid" 2>/dev/null
		wait "$sampler_pid" 2>/dev/null
	fi
	if [[ -n $bot_pid ]]; then
		kill -TERM "$bot_pid" 2>/dev/null
		# Give it 10 s to shut down cleanly. A child that has exited stays a
		# zombie (state Z) until it is waited for, so kill -0 alone cannot tell.
		for ((waited = 0; waited < 100; waited++)); do
			[[ -r /proc/$bot_pid/stat ]] || break
			[[ $(awk '{print $3}' "/proc/$bot_pid/stat" 2>/dev/null) == Z ]] && break
			sleep 0.1
		done
		if ((waited >= 100)); then
			echo "bench: rollbot did not exit 10 s after SIGTERM; sending SIGKILL" >&2
			kill -KILL "$bot_pid" 2>/dev/null
		fi
		wait "$bot_pid"
		status=$?
		if ((status == 0)); then
			echo "rollbot exited with status 0 on SIGTERM"
		else
			echo "rollbot exited with status $status on SIGTERM (expected 0)" >&2
			if [[ -n $bench_done ]]; then
				echo "bench: FAIL: unclean shutdown; last lines of the bot's log:" >&2
				tail -n 20 "$work/bot.log" >&2
				((rc == 0)) && rc=1
			fi
		fi
	fi
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
	echo "bench: $*" >&2
	if [[ -s $work/bot.log ]]; then
		echo "bench: last lines of the bot's log:" >&2
		tail -n 20 "$work/bot.log" >&2
	fi
	exit 1
}

bot_alive() {
	[[ -r /proc/$bot_pid/stat ]] && [[ $(awk '{print $3}' "/proc/$bot_pid/stat" 2>/dev/null) != Z ]]
}

# ctl PATH [JSON]: GET, or POST the JSON, to the fake's control API.
ctl() {
	if (($# > 1)); then
		curl -sS --fail-with-body --max-time 10 -H 'Content-Type: application/json' \
			--data-binary "$2" "$base$1"
	else
		curl -sS --fail-with-body --max-time 30 "$base$1"
	fi
}

sql() {
	psql "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}

now_s() { date +%s.%N; }

# elapsed START: seconds since START (from now_s), one decimal.
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# past START SECONDS: true once SECONDS have gone by since START.
past() { awk -v a="$1" -v b="$(now_s)" -v s="$2" 'BEGIN { exit !(b - a >= s) }'; }

# lt A B: true when the number A is below the number B (floats welcome).
# shellcheck disable=SC2317 # reached through check
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# ---- 1. PostgreSQL, the fake Slack, the bot ---------------------------------

echo "bench: starting a throwaway PostgreSQL, the fake Slack and rollbot…"
mkdir -p "$work/pg"
pg_started=1 # before start: a start that fails half-way may leave a server running
DATABASE_URL=$(tests/pg.sh start "$work/pg" | tail -n 1)
[[ -n $DATABASE_URL ]] || die "tests/pg.sh start printed no DATABASE_URL"

"$BUILD/fake_slack" --port 0 --port-file "$work/port" --log "$work/fake.log" 2>"$work/fake.err" &
fake_pid=$!
for ((i = 0; i < 200; i++)); do
	[[ -s $work/port ]] && break
	kill -0 "$fake_pid" 2>/dev/null || die "fake_slack exited at start: $(tail -n 5 "$work/fake.err")"
	sleep 0.05
done
[[ -s $work/port ]] || die "fake_slack wrote no port file in 10 s"
port=$(<"$work/port")
base="http://127.0.0.1:$port"
# 2,000 announcements in one channel take Slack over half an hour at its
# pace of about one post a second (and 4,000 reactions over an hour at
# reactions.add's tier); the bench measures rollbot, so both the fake's
# limits and rollbot's pacing are off (scenario 049 checks the pace).
ctl /_fake/config '{"post_rate_per_s":0,"method_tiers":false}' >/dev/null ||
	die "POST /_fake/config failed"

SLACK_APP_TOKEN=xapp-1-bench SLACK_BOT_TOKEN=xoxb-bench DATABASE_URL="$DATABASE_URL" \
	SLACK_API_URL="$base/api/" ROLLBOT_SLACK_PACING=off \
	"$BUILD/rollbot" run --config "$CONFIG" --log-level warn >"$work/bot.log" 2>&1 &
bot_pid=$!

t0=$(now_s)
until [[ $(ctl /_fake/state | jq '.hello_sent // 0') -ge 1 ]]; do
	bot_alive || die "rollbot exited before connecting"
	past "$t0" 20 && die "rollbot was not sent hello within 20 s"
	sleep 0.05
done

# ---- 2. a slow PostgreSQL ----------------------------------------------------

t0=$(now_s)
until [[ $(sql "SELECT to_regclass('processed_deliveries') IS NOT NULL" 2>/dev/null) == t ]]; do
	bot_alive || die "rollbot exited before migrating"
	past "$t0" 20 && die "table processed_deliveries did not appear within 20 s"
	sleep 0.1
done
sql "CREATE FUNCTION rollbot_bench_slow() RETURNS trigger LANGUAGE plpgsql AS
	\$\$ BEGIN PERFORM pg_sleep($PG_SLEEP); RETURN NEW; END \$\$;
	CREATE TRIGGER rollbot_bench_slow BEFORE INSERT ON processed_deliveries
	FOR EACH ROW EXECUTE FUNCTION rollbot_bench_slow();" >/dev/null

# ---- 3. the burst ------------------------------------------------------------

# The bot's memory, every 100 ms: "VmRSS VmHWM RssAnon" in kB per line.
# The sampler forks nothing (bash builtins only; `read -t` on a FIFO nobody
# writes is the sleep): a process started every 100 ms on a two-core machine
# shows up in the very tail latencies being measured.
mkfifo "$work/tick"
(
	exec 4<>"$work/tick"
	rss="" hwm="" anon=""
	while [[ -r /proc/$bot_pid/status ]]; do
		while read -r key val _; do
			case $key in
			VmRSS:) rss=$val ;;
			VmHWM:) hwm=$val ;;
			RssAnon:) anon=$val ;;
			esac
		done <"/proc/$bot_pid/status" 2>/dev/null || break
		[[ -n $rss && -n $anon ]] && printf '%s %s %s\n' "$rss" "$hwm" "$anon" >>"$work/mem"
		read -r -t 0.1 -u 4 _ || true
	done
) &
sampler_pid=$!

sleep 0.3 # a first memory sample before the burst
if [[ $MODE == paced ]]; then
	echo "bench: sending $TOTAL × /rollback $SLASH_TEXT, one every $INTERVAL_US µs…"
	pace=$INTERVAL_US
else
	echo "bench: sending $TOTAL × /rollback $SLASH_TEXT ($((TOTAL / BATCH)) bursts of $BATCH)…"
	pace=0
fi
t_send=$(now_s)
for ((b = 0; b < TOTAL / BATCH; b++)); do
	batch_body=$(jq -nc --arg t "$SLASH_TEXT" --argjson n "$BATCH" --arg u "$SLASH_USER" \
		--arg c "$SLASH_CHANNEL" --argjson p "$pace" --argjson f $((b * BATCH + 1)) \
		'{slash_batch: ({text: $t, count: $n, user: $u, channel: $c, first: $f}
			+ (if $p > 0 then {interval_us: $p} else {} end))}')
	resp=$(ctl /_fake/envelope "$batch_body") || die "POST /_fake/envelope failed: $resp"
	jq -e '.ok == true' <<<"$resp" >/dev/null || die "POST /_fake/envelope: $resp"
done

ack_note=""
ann_note=""
acked_filter='[.acks[] | select(.type == "slash_commands" and .acked_us != null)] | length'
t0=$(now_s)
# GET /_fake/acks makes the fake (one thread) serialise every record, time
# during which it reads no ack; poll rarely so the bench does not inflate the
# latencies it measures.
if [[ $MODE == paced ]]; then
	# Not a single poll while the fake is still releasing envelopes.
	sleep "$(awk -v n="$TOTAL" -v u="$INTERVAL_US" 'BEGIN { printf "%.3f", n * u / 1e6 + 0.5 }')"
else
	sleep 1
fi
while :; do
	ctl /_fake/acks >"$work/acks.json" || die "GET /_fake/acks failed"
	acked=$(jq "$acked_filter" "$work/acks.json")
	((acked >= TOTAL)) && break
	bot_alive || die "rollbot exited during the burst ($acked of $TOTAL acked)"
	if past "$t0" 60; then
		ack_note=" — timed out after 60 s"
		break
	fi
	sleep 0.5
done
# How far behind the database was when the acks were all in: the point of step 2.
incidents_at_acks=$(sql "SELECT count(*) FROM incidents" 2>/dev/null || echo "?")
# The bot's own view of the same acks (envelope read → ack written, without
# the network and without the fake's own scheduling): its /metrics histogram.
curl -fsS --noproxy '*' http://127.0.0.1:18089/metrics >"$work/metrics" 2>/dev/null || : >"$work/metrics"

# Announcements: fetch the recorded calls incrementally (since=SEQ), keep them
# in calls.jsonl, count the successful chat.postMessage calls carrying 🚨.
# shellcheck disable=SC2016 # $re is a jq variable
announce_jq='select(.method == "chat.postMessage" and (.response.ok // false)
	and ((.args | tostring) | test($re)))'
last_seq=0
announced=0
: >"$work/calls.jsonl"
fetch_calls() {
	local chunk
	chunk=$(ctl "/_fake/calls?since=$last_seq" |
		jq -c --argjson s "$last_seq" '.calls[] | select(.seq > $s)') ||
		die "GET /_fake/calls failed"
	[[ -z $chunk ]] && return 0
	printf '%s\n' "$chunk" >>"$work/calls.jsonl"
	last_seq=$(jq -s 'map(.seq) | max' <<<"$chunk")
	announced=$((announced + $(jq -s --arg re "$ANNOUNCE_RE" "map($announce_jq) | length" <<<"$chunk")))
}
if ((acked >= TOTAL)); then
	t0=$(now_s)
	while :; do
		fetch_calls
		((announced >= TOTAL)) && break
		bot_alive || die "rollbot exited while announcing ($announced of $TOTAL)"
		if past "$t0" 120; then
			ann_note=" — timed out after 120 s"
			break
		fi
		sleep 0.2
	done
	announce_wall=$(elapsed "$t_send")
	sleep 1 # a late duplicate would arrive now
	fetch_calls
else
	fetch_calls # report what was posted; waiting for the rest is pointless
fi

# The incident rows may trail the announcements while the slowed database drains.
t0=$(now_s)
while :; do
	incidents=$(sql "SELECT count(*) FROM incidents")
	((incidents >= TOTAL)) && break
	((acked >= TOTAL)) || break
	past "$t0" 30 && break
	sleep 0.2
done

# Memory: VmHWM now is the peak over the whole run; RssAnon from the samples.
awk '/^(VmRSS|VmHWM|RssAnon):/ { v[$1] = $2 } END { print v["VmRSS:"], v["VmHWM:"], v["RssAnon:"] }' \
	"/proc/$bot_pid/status" >>"$work/mem"
mem=$(awk 'NR == 1 { r0 = $1; a0 = $3 } $2 > h { h = $2 } $3 > a { a = $3 }
	END { print h + 0, a + 0, NR, r0 + 0, a0 + 0 }' "$work/mem")
read -r hwm_kb anon_kb samples rss0_kb anon0_kb <<<"$mem"

# ---- 4. report ---------------------------------------------------------------

# Percentiles by nearest rank over the acked slash envelopes.
ack_stats=$(jq -r '
	def pct(p): if length == 0 then 0 else .[([((p * length) | ceil) - 1, 0] | max)] end;
	[.acks[] | select(.type == "slash_commands" and .acked_us != null)] as $a
	| ($a | map(.latency_us) | sort) as $l
	| [($a | length), ($l | pct(0.50)), ($l | pct(0.99)), ($l | max // 0),
	   ($a | map(.sent_us) | min // 0), ($a | map(.acked_us) | max // 0),
	   (.unacked // [] | length), (.operation_timeouts // [] | length),
	   (.protocol_errors // [] | length)]
	| @tsv' "$work/acks.json")
read -r n_acked p50 p99 pmax first_sent last_acked unacked op_timeouts proto_errors <<<"$ack_stats"

# An announcement is told from another by its incident ID (INC-YYYY-NNNN), or
# by its whole text should a template ever drop the ID.
ann_stats=$(jq -rs --arg re "$ANNOUNCE_RE" "def ann: $announce_jq;"'
	[.[] | ann] as $ann
	| [($ann | length),
	   ($ann | map((.args | tostring) as $s
		| ([$s | match("INC-[0-9]+-[0-9]+"; "g").string] | first) // $s) | unique | length),
	   ($ann | map(.t_us) | max // 0),
	   (map(select(.method == "chat.postMessage")) | length),
	   (map(select(.method == "chat.postMessage" and ((.response.ok // false) | not))) | length)]
	| @tsv' "$work/calls.jsonl")
read -r n_ann n_unique last_ann_us n_posts n_post_errors <<<"$ann_stats"
duplicates=$((n_ann - n_unique))
lost=$((TOTAL - n_unique))
((lost < 0)) && lost=0

ms() { awk -v u="$1" 'BEGIN { printf "%.3f ms", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
rate() { # COUNT FROM_US TO_US
	awk -v n="$1" -v a="$2" -v b="$3" \
		'BEGIN { if (b > a && n > 0) printf "%.0f/s", n / ((b - a) / 1e6); else printf "n/a" }'
}
row() { printf '  %-34s %s\n' "$1" "$2"; }

echo
if [[ $MODE == paced ]]; then how="one every ${INTERVAL_US} µs"; else how="bursts of $BATCH"; fi
echo "rollbot bench: $TOTAL × /rollback payments-api ($how), PostgreSQL slowed by ${PG_SLEEP}s per delivery row"
echo
row "metric" "value"
row "------" "-----"
row "envelopes acked" "$n_acked / $TOTAL (in $(awk -v a="$first_sent" -v b="$last_acked" \
	'BEGIN { printf "%.2f", (b - a) / 1e6 }')s$ack_note)"
row "ack latency p50" "$(ms "$p50")"
row "ack latency p99" "$(ms "$p99")"
row "ack latency max" "$(ms "$pmax")"
row "ack time inside the bot, p99" "$(awk '
	/^rollbot_ack_seconds_bucket/ { match($0, /le="[^"]*"/); le[n] = substr($0, RSTART + 4, RLENGTH - 5); c[n++] = $2 }
	/^rollbot_ack_seconds_count/ { total = $2 }
	END {
		if (!total) { print "n/a (no /metrics)"; exit }
		for (i = 0; i < n; i++) if (c[i] >= 0.99 * total) {
			printf "≤ %s ms (%d of %d acks within 1 ms)", (le[i] == "+Inf" ? "∞" : le[i] * 1000), c[3], total; exit }
	}' "$work/metrics")"
row "ack throughput" "$(rate "$n_acked" "$first_sent" "$last_acked") (first sent → last acked)"
row "incidents in DB once all acked" "$incidents_at_acks / $TOTAL (the DB lags; acks do not wait)"
row "announcements posted" "$n_ann (${announce_wall:-?}s wall clock$ann_note)"
row "announcement throughput" "$(rate "$n_ann" "$first_sent" "$last_ann_us") (end to end)"
row "chat.postMessage calls / failed" "$n_posts / $n_post_errors"
row "incidents rows in PostgreSQL" "$incidents"
row "duplicate announcements" "$duplicates"
row "unacked / operation_timeouts" "$unacked / $op_timeouts"
row "protocol errors" "$proto_errors"
row "peak RSS (VmHWM)" "$(mb "$hwm_kb")"
row "peak RssAnon" "$(mb "$anon_kb") ($samples samples)"
row "RSS / RssAnon before the burst" "$(mb "$rss0_kb") / $(mb "$anon0_kb")"
echo

correct_fail=0
perf_fail=0
# check perf|correct NAME VALUE COMMAND…: runs COMMAND, prints PASS or FAIL
# and the measured VALUE.
check() {
	local kind=$1 name=$2 value=$3
	shift 3
	if "$@"; then
		printf '  %-34s PASS  (%s)\n' "$name" "$value"
	else
		printf '  %-34s FAIL  (%s)\n' "$name" "$value"
		if [[ $kind == perf ]]; then perf_fail=1; else correct_fail=1; fi
	fi
}
row "target" "result"
row "------" "------"
check perf "p99 ack < 1 ms" "$(ms "$p99")" lt "$p99" "$P99_TARGET_US"
check perf "RssAnon < 6 MB" "$(mb "$anon_kb")" lt "$anon_kb" "$ANON_TARGET_KB"
check perf "peak RSS < 16 MB" "$(mb "$hwm_kb")" lt "$hwm_kb" "$HWM_TARGET_KB"
check correct "$TOTAL acked" "$n_acked" test "$n_acked" -eq "$TOTAL"
check correct "$TOTAL incidents" "$incidents" test "$incidents" -eq "$TOTAL"
check correct "0 lost" "$lost never announced" test "$lost" -eq 0
check correct "0 duplicate announcements" "$duplicates" test "$duplicates" -eq 0
check correct "0 protocol errors" "$proto_errors" test "$proto_errors" -eq 0
echo

# From here an unclean exit on SIGTERM (see cleanup) also fails the run.
bench_done=1
if ((correct_fail)); then
	die "FAIL: a correctness check failed"
fi
if ((perf_fail)); then
	# Deliberately exit 0: timing and memory depend on the machine and its load.
	echo "bench: a performance target was missed. Not failing the run: timings depend on"
	echo "       the machine and its load; rerun on a quiet machine before drawing conclusions."
fi
exit 0
