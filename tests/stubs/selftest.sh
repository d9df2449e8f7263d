#!/usr/bin/env bash
# rollbot — self-test of the stub backends in tests/stubs (MIT licence, see LICENSE).
#
#   tests/stubs/selftest.sh [-v]
#
# Runs every stub (kubectl, helm, docker, aws, rollback-script → stub) with
# a throwaway ROLLBOT_TEST_DIR and checks what the scenarios will rely on:
# the refusal without ROLLBOT_TEST_DIR; one exact JSON line per call (argv
# with spaces, quotes, $(id), backslashes, newlines and control characters
# decoded back byte for byte; the ROLLBOT_* environment and nothing else;
# pid, process group, time); the default answers; the rules (tool, match,
# exit, stdout, stderr, times, sleep_ms, a bad rules file); concurrent
# calls; and hang: a call that only a kill of its whole process group ends,
# with a grandchild holding its output open, with and without SIGTERM
# ignored. -v names every check. The last line is
# `stubs selftest: N passed, M failed`; the exit status is 1 when a check
# failed. Zombies are not counted as processes left: where PID 1 does not
# reap orphans (some containers), a killed grandchild stays one for ever.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
verbose=0
case ${1:-} in
-v | --verbose) verbose=1 ;;
"") ;;
*)
	sed -n '2,18s/^# \{0,1\}//p' "$0"
	exit 2
	;;
esac

command -v jq >/dev/null || {
	echo "selftest: jq is needed (tools/deps.sh installs it)" >&2
	exit 1
}

passed=0
failed=0
groups=() # process groups started here, killed on exit
work=$(mktemp -d /tmp/rollbot-stubs.XXXXXX) || exit 1
unset ROLLBOT_TEST_DIR

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local g
	for g in "${groups[@]}"; do
		kill -KILL -- "-$g" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "selftest: interrupted" >&2; exit 130' INT TERM HUP

ok() {
	passed=$((passed + 1))
	((verbose)) && printf 'ok   %s\n' "$1"
	return 0
}

bad() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$1"
	shift
	local l
	for l; do
		printf '     %s\n' "$l"
	done
	return 0
}

# check NAME COMMAND…: passes when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "failed: $*"; fi
}

# A fresh ROLLBOT_TEST_DIR for the next calls.
fresh() {
	ROLLBOT_TEST_DIR=$(mktemp -d "$work/t.XXXXXX")
	export ROLLBOT_TEST_DIR
	calls=$ROLLBOT_TEST_DIR/stub-calls.jsonl
	rules=$ROLLBOT_TEST_DIR/stub-rules.json
}

# stub TOOL ARGS…: runs a stub; its stdout and stderr go to $work/out and
# $work/err, its status to $rc.
stub() {
	"$here/$1" "${@:2}" >"$work/out" 2>"$work/err"
	rc=$?
}

# same FILE TEXT: the file holds exactly TEXT, byte for byte.
same() {
	printf '%s' "$2" | cmp -s - "$1"
}

# The number of lines of stub-calls.jsonl.
ncalls() {
	if [[ -f $calls ]]; then wc -l <"$calls" | tr -d ' '; else echo 0; fi
}

# The JSON record of line N (1-based) of stub-calls.jsonl.
record() {
	sed -n "${1}p" "$calls"
}

# Every process of group $1 as "pid state ppid" lines (from /proc).
group_members() {
	local f line st pp pg pid
	for f in /proc/[0-9]*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		read -r st pp pg _ <<<"${line##*) }"
		if [[ $pg == "$1" ]]; then
			pid=${f#/proc/}
			printf '%s %s %s\n' "${pid%/stat}" "$st" "$pp"
		fi
	done
}

# How many processes of group $1 are alive (zombies do not count).
live_members() {
	group_members "$1" | awk '$2 != "Z" && $2 != "X"' | wc -l | tr -d ' '
}

# At least $2 live processes in group $1; none at all.
live_at_least() {
	(($(live_members "$1") >= $2))
}
none_live() {
	(($(live_members "$1") == 0))
}

# stub-calls.jsonl has at least $1 lines.
has_calls() {
	(($(ncalls) >= $1))
}

# wait_for MS COMMAND…: polls the command every 20 ms for up to MS.
wait_for() {
	local until=$((${EPOCHREALTIME//[!0-9]/} / 1000 + $1))
	shift
	until "$@"; do
		(($(now_ms) >= until)) && return 1
		sleep 0.02
	done
}

now_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $((10#$t / 1000))
}

# ---- the links ---------------------------------------------------------

for t in kubectl helm docker aws rollback-script; do
	if [[ -x $here/$t && $(readlink -f "$here/$t") == "$(readlink -f "$here/stub")" ]]; then
		ok "$t is the stub"
	else
		bad "$t is the stub" "$here/$t is missing, not executable or not a link to stub"
	fi
done

# ---- refusal outside a test --------------------------------------------

for t in kubectl helm docker aws rollback-script; do
	(
		unset ROLLBOT_TEST_DIR
		cd "$work" && "$here/$t" rollout undo deployment/x >"$work/out" 2>"$work/err"
	)
	rc=$?
	if ((rc == 127)) && grep -q 'ROLLBOT_TEST_DIR is not set' "$work/err" && [[ ! -s $work/out ]]; then
		ok "$t refuses without ROLLBOT_TEST_DIR"
	else
		bad "$t refuses without ROLLBOT_TEST_DIR" "status $rc, stderr: $(head -c 300 "$work/err")"
	fi
done
ROLLBOT_TEST_DIR="" "$here/kubectl" version >"$work/out" 2>"$work/err"
rc=$?
check "an empty ROLLBOT_TEST_DIR is refused" test "$rc" = 127
ROLLBOT_TEST_DIR=$work/does-not-exist "$here/kubectl" version >"$work/out" 2>"$work/err"
rc=$?
if ((rc == 127)) && grep -q 'not a writable folder' "$work/err" && [[ ! -e $work/does-not-exist ]]; then
	ok "a missing ROLLBOT_TEST_DIR is refused"
else
	bad "a missing ROLLBOT_TEST_DIR is refused" "status $rc, stderr: $(cat "$work/err")"
fi
if ! ls "$work"/stub-calls.jsonl >/dev/null 2>&1; then
	ok "a refused call records nothing"
else
	bad "a refused call records nothing" "found $work/stub-calls.jsonl"
fi

# ---- the record: argv and environment survive exactly ------------------

# shellcheck disable=SC2016,SC1003 # literal on purpose: nothing may expand
weird=(
	rollout undo 'deployment/payments api' '-n' 'pay"ments'
	"it's" '$(id)' '`id`' '${HOME}' 'back\slash\\' $'new\nline' $'tab\there'
	$'\x01\x02\x1f\x7f' '' ' ' '--' '-n' '--to-revision=41' 'é ü 漢字 🚨' '*' '%s%n'
	'{"spec":{"selector":{"version":"blue"}}}' '\u0041'
)
for t in kubectl helm docker aws rollback-script; do
	fresh
	before=$(now_ms)
	ROLLBOT_INCIDENT=INC-2026-0001 ROLLBOT_ODD=$'a "b"\nc\\d' NOT_ROLLBOT_SECRET=xoxb-nope \
		setsid "$here/$t" "${weird[@]}" >"$work/out" 2>"$work/err" &
	pid=$!
	wait "$pid"
	rc=$?
	after=$(now_ms)
	line=$(record 1)
	if (($(ncalls) == 1)) && ((rc == 0)); then
		ok "$t: one line per call"
	else
		bad "$t: one line per call" "status $rc, $(ncalls) lines, stderr: $(head -c 300 "$work/err")"
		continue
	fi
	if command -v python3 >/dev/null; then
		check "$t: the line is JSON (python3)" python3 -c 'import json,sys; json.loads(sys.argv[1])' "$line"
	fi
	check "$t: the line is JSON (jq)" jq -e 'type == "object"' <<<"$line" >/dev/null
	mapfile -d '' -t got < <(jq -j '.argv[] | . + "\u0000"' <<<"$line")
	if [[ ${#got[@]} == "${#weird[@]}" ]]; then
		diffs=()
		for i in "${!weird[@]}"; do
			[[ ${got[i]} == "${weird[i]}" ]] || diffs+=("argv[$i]: $(printf '%q' "${got[i]}") != $(printf '%q' "${weird[i]}")")
		done
		if ((${#diffs[@]} == 0)); then
			ok "$t: argv decodes back byte for byte"
		else
			bad "$t: argv decodes back byte for byte" "${diffs[@]}"
		fi
	else
		bad "$t: argv decodes back byte for byte" "${#got[@]} elements instead of ${#weird[@]}: $line"
	fi
	# The escapes themselves, as written in the file.
	esc_ok=1
	# shellcheck disable=SC2016 # literal on purpose
	for want in '"pay\"ments"' '"back\\slash\\\\"' '"new\nline"' '"tab\there"' \
		'"\u0001\u0002\u001f\u007f"' '"$(id)"' '"`id`"' '"\\u0041"' '""' '"--"'; do
		[[ $line == *"$want"* ]] || {
			esc_ok=0
			bad "$t: escapes in the line" "missing $want in $line"
		}
	done
	((esc_ok)) && ok "$t: escapes in the line"
	if [[ $line != *uid=* && $(wc -l <"$calls") == 1 ]]; then
		ok "$t: nothing expanded, one physical line"
	else
		bad "$t: nothing expanded, one physical line" "$line"
	fi
	# shellcheck disable=SC2016 # jq variables
	check "$t: tool name" jq -e --arg t "$t" '.tool == $t' <<<"$line" >/dev/null
	# shellcheck disable=SC2016 # jq variables
	check "$t: ROLLBOT_* environment, exactly" jq -e --arg d "$ROLLBOT_TEST_DIR" \
		'.env == {ROLLBOT_TEST_DIR: $d, ROLLBOT_INCIDENT: "INC-2026-0001",
		          ROLLBOT_ODD: "a \"b\"\nc\\d"}' <<<"$line" >/dev/null
	# shellcheck disable=SC2016 # jq variables
	check "$t: pid, pgid, t_ms, cwd, rule" jq -e --argjson pid "$pid" --argjson lo "$before" \
		--argjson hi "$after" --arg cwd "$PWD" \
		'.pid == $pid and .pgid == $pid and (.ppid | type) == "number" and .t_ms >= $lo
		 and .t_ms <= $hi and .cwd == $cwd and .rule == null' <<<"$line" >/dev/null
done

fresh
stub kubectl
check "no arguments: argv is []" jq -e '.argv == [] and .tool == "kubectl"' <<<"$(record 1)" >/dev/null

# ---- default answers ---------------------------------------------------

fresh
stub kubectl rollout history deployment/payments-api -n payments
if ((rc == 0)) && grep -q '^REVISION  *CHANGE-CAUSE' "$work/out" &&
	[[ $(grep -oE '^[0-9]+' "$work/out" | tr '\n' ' ') == "39 40 41 " ]]; then
	ok "kubectl rollout history: revisions 39 40 41"
else
	bad "kubectl rollout history: revisions 39 40 41" "status $rc: $(cat "$work/out")"
fi
stub kubectl rollout undo deployment/payments-api -n payments --to-revision=41
check "kubectl rollout undo" same "$work/out" $'deployment.apps/payments-api rolled back\n'
stub kubectl rollout status deployment/payments-api -n payments --timeout=300s
check "kubectl rollout status" same "$work/out" $'deployment "payments-api" successfully rolled out\n'
stub kubectl -n web patch service web -p '{"spec":{"selector":{"version":"blue"}}}'
check "kubectl patch" same "$work/out" $'service/web patched\n'
stub kubectl scale deployment payments-api-canary --replicas=0 -n payments
check "kubectl scale" same "$work/out" $'deployment.apps/payments-api-canary scaled\n'
stub helm history search -n search -o json
# shellcheck disable=SC2016 # jq program
if ((rc == 0)) && jq -e '[.[] | .revision] == [1, 2, 3] and .[2].status == "deployed"
	and .[1].status == "superseded" and .[0].status == "superseded"' "$work/out" >/dev/null; then
	ok "helm history -o json: 1..3, 3 deployed"
else
	bad "helm history -o json: 1..3, 3 deployed" "status $rc: $(cat "$work/out")"
fi
stub helm rollback search 2 -n search --wait
check "helm rollback" same "$work/out" $'Rollback was a success! Happy Helming!\n'
stub helm status search -n search
check "helm status" grep -q '^STATUS: deployed$' "$work/out"
stub aws lambda get-alias --function-name payments --name live --output json
check "aws lambda get-alias: FunctionVersion 7" jq -e '.FunctionVersion == "7" and .Name == "live"' "$work/out" >/dev/null
stub aws lambda update-alias --function-name payments --name live --function-version 6
check "aws lambda update-alias: the new version" jq -e '.FunctionVersion == "6"' "$work/out" >/dev/null
stub docker service update --rollback payments
check "docker service update --rollback" same "$work/out" $'payments\n'
stub docker service update --image registry.example.com/payments:1.4.1 payments
check "docker service update --image" same "$work/out" $'payments\n'
stub rollback-script
check "the operator script" same "$work/out" $'rolled back\n'
stub kubectl something unknown
if ((rc == 0)) && [[ ! -s $work/out && ! -s $work/err ]]; then
	ok "an unknown command: exit 0, no output"
else
	bad "an unknown command: exit 0, no output" "status $rc: $(cat "$work/out" "$work/err")"
fi

# ---- rules -------------------------------------------------------------

fresh
cat >"$rules" <<'EOF'
[
  {"tool": "helm", "match": "rollout undo", "exit": 9},
  {"tool": "kubectl", "match": "rollout undo", "exit": 3, "stdout": "no trailing newline",
   "stderr": "error: \"boom\"\n\ttab\n", "times": 2},
  {"tool": "kubectl", "match": {"re": "^rollout status deployment/[a-z-]+ -n pay(ments)?( |$)"},
   "stdout": "", "exit": 1},
  {"tool": "kubectl", "match": {"~": "history"}, "stdout": "custom\n", "sleep_ms": 300},
  {"tool": "*", "match": "apply", "exit": 4},
  {"match": "version", "stdout": "v0\n", "note": "no tool: any tool"}
]
EOF
stub kubectl rollout undo deployment/x -n y
check "rule: exit status" test "$rc" = 3
check "rule: stdout verbatim" same "$work/out" 'no trailing newline'
check "rule: stderr verbatim" same "$work/err" $'error: "boom"\n\ttab\n'
check "rule: the record names it" jq -e '.rule == 1' <<<"$(record 1)" >/dev/null
stub kubectl rollout undo deployment/x -n y
check "rule: times (2nd call)" test "$rc" = 3
stub kubectl rollout undo deployment/x -n y
if ((rc == 0)) && same "$work/out" $'deployment.apps/x rolled back\n'; then
	ok "rule: times (3rd call gets the default)"
else
	bad "rule: times (3rd call gets the default)" "status $rc: $(cat "$work/out")"
fi
check "rule: the default's record says null" jq -e '.rule == null' <<<"$(record 3)" >/dev/null
stub kubectl rollout status deployment/payments-api -n pay
if ((rc == 1)) && [[ ! -s $work/out ]]; then
	ok "rule: regex, empty stdout"
else
	bad "rule: regex, empty stdout" "status $rc: $(cat "$work/out")"
fi
stub kubectl rollout status deployment/payments-api -n payments
check "rule: regex (alternative)" test "$rc" = 1
stub kubectl rollout status deployment/payments-api -n payment
if ((rc == 0)) && same "$work/out" $'deployment "payments-api" successfully rolled out\n'; then
	ok "rule: a regex that does not match"
else
	bad "rule: a regex that does not match" "status $rc: $(cat "$work/out")"
fi
t0=$(now_ms)
stub kubectl rollout history deployment/x
t1=$(now_ms)
if ((rc == 0 && t1 - t0 >= 300)) && same "$work/out" $'custom\n'; then
	ok "rule: sleep_ms 300 ($((t1 - t0)) ms)"
else
	bad "rule: sleep_ms 300" "status $rc after $((t1 - t0)) ms: $(cat "$work/out")"
fi
stub docker apply -f x
check "rule: tool * matches any tool" test "$rc" = 4
stub aws version
check "rule: no tool matches any tool" same "$work/out" $'v0\n'
stub helm rollout undo x
check "rule: tool must match" test "$rc" = 9
# Replacing the rules starts the counts again.
sleep 0.01
cp "$rules" "$rules.new" && mv -f "$rules.new" "$rules"
stub kubectl rollout undo deployment/x -n y
check "rule: times start again with a new rules file" test "$rc" = 3
stub kubectl rollout undo deployment/x -n y
stub kubectl rollout undo deployment/x -n y
check "rule: … and run out again" test "$rc" = 0

for badrules in '{"tool": "kubectl"}' '[{"tool": "kubectl", "exti": 1}]' '[{"exit": 256}]' \
	'[{"match": 3}]' '[{"stdout": 1}]' '[{"hang": "yes"}]' '[{"match": {"re": "("}}]' '[' \
	'[{"sleep_ms": -1}]' '[{"times": 1.5}]'; do
	printf '%s' "$badrules" >"$rules"
	stub kubectl rollout undo x
	if ((rc == 127)) && [[ -s $work/err && ! -s $work/out ]]; then
		ok "bad rules refused: $badrules"
	else
		bad "bad rules refused: $badrules" "status $rc, stderr: $(cat "$work/err")"
	fi
done
rm -f "$rules"
stub kubectl rollout undo deployment/x
check "no rules file: the default again" test "$rc" = 0

# ---- concurrent calls --------------------------------------------------

fresh
printf '[{"tool": "kubectl", "match": "par", "exit": 5, "times": 7}]' >"$rules"
pids=()
for i in $(seq 1 24); do
	"$here/kubectl" par "$i" "$(printf 'x%.0s' $(seq 1 300))" >/dev/null 2>&1 &
	pids+=($!)
done
fives=0
for p in "${pids[@]}"; do
	wait "$p"
	(($? == 5)) && fives=$((fives + 1))
done
# shellcheck disable=SC2016 # jq program
if (($(ncalls) == 24)) && jq -s -e 'length == 24 and ([.[].argv[1]] | unique | length) == 24
	and ([.[] | select(.rule == 0)] | length) == 7' "$calls" >/dev/null && ((fives == 7)); then
	ok "24 concurrent calls: 24 whole lines, the rule used exactly 7 times"
else
	bad "24 concurrent calls: 24 whole lines, the rule used exactly 7 times" \
		"$(ncalls) lines, $fives calls exited 5"
fi

# ---- hang: only a kill of the whole group ends the call ----------------

# hang_case NAME RULE SIGNAL…: starts a hanging call in a group of its own,
# checks its grandchild, sends the signals to the group in turn, and checks
# that no live process of the group is left.
hang_case() {
	local name=$1 rule=$2 sig pid gc n st
	shift 2
	fresh
	printf '[%s]' "$rule" >"$rules"
	setsid "$here/helm" rollback search 2 >"$work/hang.out" 2>"$work/hang.err" &
	pid=$!
	groups+=("$pid")
	if ! wait_for 5000 grep -q partial "$work/hang.out" "$work/hang.err"; then
		bad "$name: the call answers, then hangs" "no output: $(cat "$work/hang.err")"
		kill -KILL -- "-$pid"
		return
	fi
	wait_for 2000 live_at_least "$pid" 2
	gc=$(group_members "$pid" | awk -v p="$pid" '$3 == p && $2 != "Z" {print $1; exit}')
	if [[ -n $gc ]] && jq -e --argjson p "$pid" '.pgid == $p and .pid == $p' <<<"$(record 1)" >/dev/null; then
		ok "$name: the call hangs with a grandchild in its group"
	else
		bad "$name: the call hangs with a grandchild in its group" "$(group_members "$pid")"
	fi
	if [[ -n $gc && $(readlink "/proc/$gc/fd/1") == "$(readlink "/proc/$pid/fd/1")" ]]; then
		ok "$name: the grandchild holds the output open"
	else
		bad "$name: the grandchild holds the output open" "grandchild ${gc:-none}"
	fi
	if kill -0 "$pid" 2>/dev/null && sleep 0.3 && kill -0 "$pid" 2>/dev/null; then
		ok "$name: still running"
	else
		bad "$name: still running" "it ended on its own"
	fi
	# (bash's "Killed" notice for the job goes to /dev/null with the rest)
	{
		for sig; do
			kill "-$sig" -- "-$pid"
			sleep 0.3
		done
		wait "$pid"
	} 2>/dev/null
	st=$?
	sig=$(kill -l "$((st - 128))" 2>/dev/null)
	if [[ $sig == "${*: -1}" ]]; then
		ok "$name: the call ended by SIG${*: -1}"
	else
		bad "$name: the call ended by SIG${*: -1}" "status $st"
	fi
	if wait_for 3000 none_live "$pid"; then
		n=$(group_members "$pid" | wc -l | tr -d ' ')
		if ((n > 0)); then
			ok "$name: $* leaves no live process (status $st; $n zombie(s) nobody reaps)"
		else
			ok "$name: $* leaves no live process (status $st)"
		fi
	else
		bad "$name: $* leaves no live process" "$(group_members "$pid")"
	fi
}

hang_case "hang" '{"hang": true, "stdout": "partial\n"}' TERM
hang_case "hang with SIGTERM ignored" '{"hang": true, "ignore_term": true, "stderr": "partial\n"}' TERM KILL
# The TERM alone must not have been enough in the second case.
fresh
printf '[{"hang": true, "ignore_term": true}]' >"$rules"
setsid "$here/kubectl" rollout status deployment/x >/dev/null 2>&1 &
pid=$!
groups+=("$pid")
wait_for 5000 has_calls 1
wait_for 2000 live_at_least "$pid" 2
kill -TERM -- "-$pid"
sleep 0.3
if (($(live_members "$pid") >= 2)); then
	ok "ignore_term: SIGTERM to the group changes nothing"
else
	bad "ignore_term: SIGTERM to the group changes nothing" "$(group_members "$pid")"
fi
kill -KILL -- "-$pid"
{ wait "$pid"; } 2>/dev/null

printf 'stubs selftest: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
