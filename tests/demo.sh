#!/usr/bin/env bash
# rollbot — `make demo`: a scripted incident against the local fake Slack and
# a throwaway PostgreSQL, printed as the conversation a person would see in
# Slack; then a second one nobody types, proposed by the watcher when the
# fake Prometheus says search's error rate stays above 5 %. No Slack account, no network: everything listens on 127.0.0.1 or a
# Unix socket. The demo's database is kept (PostgreSQL stopped) in
# ROLLBOT_DEMO_PG (default /var/tmp/rollbot-demo-pg: it survives a reboot,
# and as root the `postgres` user can reach it, which a clone under /root
# would not allow), so that `rollbot report` can be
# tried on it afterwards; ROLLBOT_DEMO_DISCARD=1 throws it away instead. A
# new demo replaces the previous one's database.
set -euo pipefail

BUILD=${1:-build}
cd "$(dirname "$0")/.."
REQUESTER=U02JD0E4512
CHANNEL=C05K8Q2V7XM
PGDIR=${ROLLBOT_DEMO_PG:-/var/tmp/rollbot-demo-pg}
DISCARD=${ROLLBOT_DEMO_DISCARD:-0}

work=$(mktemp -d /tmp/rollbot-demo.XXXXXX)
chmod 755 "$work"
bot_pid=""
fake_pid=""
pg_started=""

cleanup() {
	[ -n "$bot_pid" ] && kill -TERM "$bot_pid" 2>/dev/null && wait "$bot_pid" 2>/dev/null
	[ -n "$fake_pid" ] && kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	if [ -n "$pg_started" ]; then
		if [ "$DISCARD" = 1 ]; then
			tests/pg.sh stop "$PGDIR" >/dev/null 2>&1
		else
			tests/pg.sh halt "$PGDIR" >/dev/null 2>&1
		fi
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bold=$(printf '\033[1m'); dim=$(printf '\033[2m'); off=$(printf '\033[0m')
if [ ! -t 1 ]; then bold=""; dim=""; off=""; fi

say() { printf '%s\n' "$*"; }
api() { curl -fsS "http://127.0.0.1:$port$1" "${@:2}"; }

say "${dim}Starting a PostgreSQL in $PGDIR, the local fake Slack and rollbot…${off}"
# The previous demo's database, if any (pg.sh removes only a folder it made).
[ -e "$PGDIR" ] && tests/pg.sh stop "$PGDIR" >/dev/null
mkdir -p "$PGDIR"
DATABASE_URL=$(tests/pg.sh start "$PGDIR")
pg_started=1
"$BUILD/fake_slack" --port 0 --port-file "$work/port" 2>"$work/fake.log" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
# The configuration names the fake's port for the health, version and
# Prometheus endpoints it plays.
CONFIG="$work/rollbot.yaml"
sed "s/\${port}/$port/g" tests/demo.yaml.in >"$CONFIG"

# The query KEY (error_rate_query, latency_query) of SERVICE in $CONFIG.
query_of() {
	awk -v svc="  $1:" -v key="$2:" '$0 == svc { on = 1; next } /^  [^ ]/ { on = 0 }
		on && $1 == key { sub(/^ *[a-z_]+: \047/, ""); sub(/\047$/, ""); print }' "$CONFIG"
}
# Prometheus as the fake plays it: scripts the instant query $1's answers.
prom_says() {
	api /_fake/prom -H 'Content-Type: application/json' \
		-d "$(jq -n --arg q "$1" --arg v "$2" '{query:$q, values:[$v]}')" >/dev/null
}
# search is watched from the start: healthy (0.2 % of errors) until the
# second act.
q_search=$(query_of search error_rate_query)
prom_says "$q_search" 0.002

# kubectl, helm, … are the test stubs (tests/stubs): they record what they
# were asked to run and answer like the real tools. Nothing touches a cluster.
SLACK_APP_TOKEN=xapp-1-demo SLACK_BOT_TOKEN=xoxb-demo DATABASE_URL="$DATABASE_URL" \
	SLACK_API_URL="http://127.0.0.1:$port/api/" \
	PATH="$PWD/tests/stubs:$PATH" ROLLBOT_TEST_DIR="$work" \
	"$BUILD/rollbot" run --config "$CONFIG" 2>"$work/bot.log" &
bot_pid=$!
for _ in $(seq 200); do
	[ "$(api /_fake/state | jq .hello_sent)" -ge 1 ] 2>/dev/null && break
	sleep 0.05
done
say "${dim}rollbot is connected over Socket Mode (fake Slack on 127.0.0.1:$port).${off}"
say ""

# The people, as Slack's users.info names them (the report shows names).
for u in 'U02JD0E4512 jane.doe Jane Doe' 'U03ASM1TH7Q alex.smith Alex Smith' \
	'U05SAMLEE01 sam.lee Sam Lee'; do
	read -r id handle real <<<"$u"
	api /_fake/user -H 'Content-Type: application/json' \
		-d "$(jq -n --arg id "$id" --arg h "$handle" --arg r "$real" \
			'{id:$id, name:$h, display_name:$h, real_name:$r}')" >/dev/null
done
# The cluster as the stub kubectl plays it: revision 42 (the 03:05 deploy
# of 2.1.0) is running, 41 before it. The stub helm's search is on revision
# 3, and after its rollback to 2 on revision 4 (a Helm rollback is a new
# revision).
jq -n '[{tool:"kubectl", match:"rollout history", stdout:
	("deployment.apps/payments-api \nREVISION  CHANGE-CAUSE\n" +
	 "40        kubectl set image deployment/payments-api payments-api=registry.example.com/payments-api:1.9.4 --namespace=payments\n" +
	 "41        kubectl set image deployment/payments-api payments-api=registry.example.com/payments-api:2.0.3 --namespace=payments\n" +
	 "42        kubectl set image deployment/payments-api payments-api=registry.example.com/payments-api:2.1.0 --namespace=payments\n\n")},
	{tool:"helm", match:"status search", stdout:
	("NAME: search\nLAST DEPLOYED: " + (now | strftime("%a %b %e %H:%M:%S %Y")) +
	 "\nNAMESPACE: search\nSTATUS: deployed\nREVISION: 4\nTEST SUITE: None\n")}]' \
	>"$work/stub-rules.json"

seen=0
# Prints the messages rollbot posted since the last call, as Slack shows
# them, up to the first one that matches the regex $1; later ones wait for
# the next call. With $2 = quiet, prints none. Nothing matching within 15 s
# ends the demo with an error (and the end of rollbot's log).
show_until() {
	local calls upto=""
	for _ in $(seq 150); do
		calls=$(api "/_fake/calls?since=$seen")
		upto=$(jq --arg re "$1" '[.calls[] | select(.method=="chat.postMessage" and (.args.text | test($re))) | .seq] | first // empty' \
			<<<"$calls")
		[ -n "$upto" ] && break
		sleep 0.1
	done
	if [ -z "$upto" ]; then
		say "demo: rollbot posted nothing matching /$1/ within 15 s; the end of its log:" >&2
		tail -n 20 "$work/bot.log" >&2
		exit 1
	fi
	[ "${2:-}" = quiet ] || jq -r --arg b "$bold" --arg o "$off" --argjson upto "$upto" '.calls[]
		| select(.method=="chat.postMessage" and .seq <= $upto)
		| "\($b)rollbot\($o) in #incidents\(if .args.thread_ts then " (thread)" else "" end):\n"
		  + (.args.text | split("\n") | map("  │ " + .) | join("\n")) + "\n"' <<<"$calls"
	seen=$upto
}

# The ts of the last message rollbot posted whose text matches the regex $1.
ts_of() {
	api "/_fake/calls?method=chat.postMessage" |
		jq -r --arg re "$1" '[.calls[] | select(.args.text | test($re))] | last | .response.ts'
}

# Sends user $1's reaction $2 to the message of ts $3.
react() {
	api /_fake/envelope -H 'Content-Type: application/json' \
		-d "$(jq -n --arg u "$1" --arg r "$2" --arg ts "$3" --arg c "$CHANNEL" '{reaction:$r,user:$u,channel:$c,ts:$ts}')" >/dev/null
}

# Types a slash command as jane.doe and prints rollbot's private answer.
type_cmd() {
	local text=$1 channel=${2:-$CHANNEL} env ack
	say "${bold}jane.doe${off} in #incidents: /rollback $text"
	env=$(api /_fake/envelope -H 'Content-Type: application/json' \
		-d "$(jq -n --arg t "$text" --arg u "$REQUESTER" --arg c "$channel" '{slash:$t,user:$u,channel:$c}')" |
		jq -r .envelope_id)
	for _ in $(seq 100); do
		ack=$(api /_fake/acks | jq -c --arg e "$env" '.acks[] | select(.envelope_id==$e)')
		[ -n "$ack" ] && break
		sleep 0.05
	done
	say "${bold}rollbot${off} ${dim}(only visible to you, acked in $(jq -r '.latency_us/1000' <<<"$ack") ms)${off}:"
	if jq -e '.payload.text' <<<"$ack" >/dev/null; then
		jq -r '.payload.text' <<<"$ack" | sed 's/^/  │ /'
	else
		# Answered after the ack (from the database), through response_url.
		local reply=""
		for _ in $(seq 100); do
			reply=$(api "/_fake/calls?since=$seen" | jq -r '[.calls[] | select(.method=="response_url")] | last | .args.text // empty')
			[ -n "$reply" ] && break
			sleep 0.05
		done
		printf '%s\n' "${reply:-(no answer)}" | sed 's/^/  │ /'
	fi
	say ""
}

say "${dim}── 03:12 — the on-call engineer asks for help ──${off}"
type_cmd "help"
say "${dim}── a typo in the service name ──${off}"
type_cmd "paymnts-api --to 41"
say "${dim}── something that looks like a shell trick ──${off}"
type_cmd 'payments-api --to "41; rm -rf /"'
say "${dim}── a dry run first: nothing is recorded ──${off}"
type_cmd 'payments-api --to 41 --severity P1 --reason "checkout 5xx at 6%" --dry-run'
say "${dim}── the real thing ──${off}"
# payments-api as the fake plays it: unhealthy for one more check after the
# rollback, then healthy; the version endpoint shows revision 41; the error
# rate and p99 latency are back to normal.
api /_fake/svc -H 'Content-Type: application/json' \
	-d '{"name":"payments-api","endpoint":"health","responses":[{"status":503,"body":"down"},{"status":200,"body":"ok"}]}' >/dev/null
api /_fake/svc -H 'Content-Type: application/json' \
	-d '{"name":"payments-api","endpoint":"version","responses":[{"status":200,"body":"{\"version\":\"41\"}"}]}' >/dev/null
prom_says "$(query_of payments-api error_rate_query)" 0.0012
prom_says "$(query_of payments-api latency_query)" 0.44

type_cmd 'payments-api --to 41 --severity P1 --reason "checkout 5xx at 6% since the 03:05 deploy"'
show_until 'Approval needed'

say "${dim}── four seconds later, nobody has approved yet: the first status update ──${off}"
show_until 'Status update 1'

approval_ts=$(api "/_fake/calls" | jq -r '[.calls[] | select(.method=="chat.postMessage" and (.args.text | test("Approval needed")))] | last | .response.ts')
announce_ts=$(api "/_fake/calls" | jq -r '[.calls[] | select(.method=="chat.postMessage" and (.args.text | test("INCIDENT")))] | last | .response.ts')
say "${dim}── sam.lee replies in the thread, and marks the finding with 📌 for the report ──${off}"
note_ts=$(date +%s).000100
api /_fake/envelope -H 'Content-Type: application/json' \
	-d "$(jq -n --arg t "$announce_ts" --arg ts "$note_ts" '{message:"first 5xx at 03:05, right after deploy 2.1.0 (payment provider SDK upgrade)",user:"U05SAMLEE01",channel:"C05K8Q2V7XM",thread_ts:$t,ts:$ts}')" >/dev/null
say "${bold}sam.lee${off} in #incidents (thread): first 5xx at 03:05, right after deploy 2.1.0 (payment provider SDK upgrade)"
api /_fake/envelope -H 'Content-Type: application/json' \
	-d "$(jq -n --arg ts "$note_ts" '{reaction:"pushpin",user:"U05SAMLEE01",channel:"C05K8Q2V7XM",ts:$ts}')" >/dev/null
say "  ${dim}📌 1${off}"
say ""
say "${dim}── 03:14 — the release manager, alex.smith, reacts ✅ to the approval request ──${off}"
api /_fake/envelope -H 'Content-Type: application/json' \
	-d "$(jq -n --arg ts "$approval_ts" '{reaction:"white_check_mark",user:"U03ASM1TH7Q",channel:"C05K8Q2V7XM",ts:$ts}')" >/dev/null
show_until 'Rolled back'
say "${dim}── rollbot verifies (rollout status, health, version, error rate, p99), then uploads the report and drafts the all-clear ──${off}"
show_until 'Service Issue Resolved'
api "/_fake/calls?method=files.completeUploadExternal" |
	jq -r '.calls[-1] | "  📄 \(.args.files[0].title) uploaded to the thread (\(.response.files[0].size) bytes): \(.args.initial_comment)"'
say ""
say "${dim}── what the (stub) kubectl was asked to run, argv as recorded ──${off}"
jq -r '"  " + .tool + " " + (.argv | map(@json) | join(" "))' "$work/stub-calls.jsonl" 2>/dev/null || true
say ""
inc=$(psql "$DATABASE_URL" -X -A -t -c "SELECT id FROM incidents ORDER BY id DESC LIMIT 1")

# The second act: nobody types anything. search has a watch: block; the
# watcher reads its error rate every 500 ms and proposes the rollback once
# it has stayed above 5 % for 2 s (2 minutes in production).
say "${dim}── 03:40 — nobody is typing: a deploy of search goes wrong, and the watcher, reading its error rate every 500 ms, notices ──${off}"
prom_says "$q_search" 0.083
show_until 'looks unhealthy'
say "${dim}── sam.lee reacts ✅ to the proposal: the incident is declared as sam.lee ──${off}"
react U05SAMLEE01 white_check_mark "$(ts_of 'looks unhealthy')"
say "  ${dim}✅ 1${off}"
say ""
show_until 'Approval needed'
say "${dim}── alex.smith approves (sam.lee, who started it, could not) ──${off}"
# The rollback will work: the error rate is back to normal from now on.
prom_says "$q_search" 0.004
react U03ASM1TH7Q white_check_mark "$(ts_of 'Approval needed: roll back search')"
show_until 'Rollback complete'
show_until 'Service Issue Resolved' quiet
say "${dim}(then, as for $inc, the report is uploaded to the thread and the three drafts follow)${off}"
say ""
inc2=$(psql "$DATABASE_URL" -X -A -t -c "SELECT id FROM incidents ORDER BY id DESC LIMIT 1")

say "${dim}── later, someone asks where things stand ──${off}"
type_cmd "status"
type_cmd "status $inc2"

say "${dim}── what PostgreSQL recorded ──${off}"
psql "$DATABASE_URL" -X -q -P pager=off -c \
	"SELECT id, service, state, severity, target, requested_by, created_at, ended_at FROM incidents ORDER BY id" \
	-c "SELECT id, coalesce(incident_id, '-') AS incident, actor, kind,
	           left(coalesce(detail->>'error', detail->>'to', detail->>'decision', detail->>'command',
	                         detail->>'message', detail->>'failures', detail->>'number',
	                         detail->>'summary', detail->>'trigger'), 70) AS detail
	    FROM audit_log ORDER BY id"

kill -TERM "$bot_pid"
wait "$bot_pid" && status=0 || status=$?
bot_pid=""
say "${dim}rollbot stopped on SIGTERM with exit status $status.${off}"
say ""
say "${dim}── the report, as \`rollbot report $inc\` prints it for the post-mortem ──${off}"
DATABASE_URL="$DATABASE_URL" "$BUILD/rollbot" report "$inc" | sed 's/^/  │ /'

say ""
if [ "$DISCARD" = 1 ]; then
	say "${dim}The demo's database is thrown away (ROLLBOT_DEMO_DISCARD=1).${off}"
	exit 0
fi
rel=$PGDIR
say "${bold}The demo's database is kept in $rel${off} (PostgreSQL is stopped). To look at it:"
say ""
say "  tests/pg.sh resume $rel      # starts it again and prints its DATABASE_URL:"
say "  export DATABASE_URL='$DATABASE_URL'"
say "  $BUILD/rollbot report --list"
say "  $BUILD/rollbot report $inc"
say "  $BUILD/rollbot report $inc2     # the watcher's: detected by the watcher, then the ✅"
say "  $BUILD/rollbot report $inc --format json"
say "  psql \"\$DATABASE_URL\" -c 'SELECT id, kind, actor, at FROM audit_log ORDER BY id'"
say "  tests/pg.sh stop $rel        # stops it and removes the folder"
say ""
say "${dim}The next \`make demo\` replaces it; \`ROLLBOT_DEMO_DISCARD=1 make demo\` keeps nothing.${off}"
