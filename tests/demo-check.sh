#!/usr/bin/env bash
# rollbot — checks that `make demo` still tells its story (MIT licence).
#
#   tests/demo-check.sh [BUILD_DIR]      (default: build)
#
# Runs tests/demo.sh once with a throwaway database (ROLLBOT_DEMO_DISCARD=1,
# in a folder of its own) and checks its transcript as a reader would: the
# typed incident resolves; then, with nobody typing, the watcher's proposal
# for search appears, sam.lee's ✅ declares the incident as sam.lee (after
# the proposal, not before), alex.smith approves and it resolves; PostgreSQL
# recorded both; rollbot exits 0 on SIGTERM (a sanitizer report would not). One check per line, "ok - …" or "FAIL - …", then
# "demo: N passed, M failed" (tests/run.sh reads it). Exit 1 on a failure.
set -uo pipefail

BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 2
passed=0
failed=0
tmp=$(mktemp -d /tmp/rollbot-demo-check.XXXXXX) || exit 2
chmod 755 "$tmp" # the postgres user reaches its cluster there when run as root
trap 'rm -rf "$tmp"' EXIT

check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"
		passed=$((passed + 1))
	else
		echo "FAIL - $what"
		failed=$((failed + 1))
	fi
}

out=$tmp/transcript
ROLLBOT_DEMO_PG=$tmp/pg ROLLBOT_DEMO_DISCARD=1 timeout -k 10 180 tests/demo.sh "$BUILD" >"$out" 2>&1
rc=$?

# The first line of the transcript that matches the ERE $1 (0: none).
line_of() {
	local n
	n=$(grep -n -E -m 1 -- "$1" "$out" | cut -d: -f1)
	echo "${n:-0}"
}
has() { [ "$(line_of "$1")" -gt 0 ]; }
# $1 is there, and before $2.
before() {
	local a b
	a=$(line_of "$1")
	b=$(line_of "$2")
	[ "$a" -gt 0 ] && [ "$b" -gt "$a" ]
}

check "the demo ends with status 0 (it was $rc)" test "$rc" = 0
check "the typed incident is declared" has '🚨 \*INCIDENT INC-[0-9]{4}-0001: Initiating rollback of payments-api\*'
check "and resolves after verification" has '✅ \*Rollback complete: payments-api is on revision 41\* \(INC-[0-9]{4}-0001\)'
check "the watcher's proposal for search appears in the channel" \
	before '👀 \*search looks unhealthy: roll it back\?\*' '\*Seen by the watcher:\* error rate 8\.3% above 5\.0% since'
# shellcheck disable=SC2016 # backquotes of Slack markup, not a command
check "it shows the exact command" has '\*Command:\* `/rollback search --severity P[0-3] --reason "watcher: error rate 8\.3% above 5\.0% since [0-9:]{8} UTC"`'
check "the incident it starts is declared after the proposal" \
	before '👀 \*search looks unhealthy' '🚨 \*INCIDENT INC-[0-9]{4}-0002: Initiating rollback of search\*'
check "as sam.lee, who reacted ✅" \
	before 'INC-[0-9]{4}-0002: Initiating rollback of search' '\*Incident lead:\* <@U05SAMLEE01>'
check "approval is asked of alex.smith" \
	before 'INC-[0-9]{4}-0002: Initiating rollback of search' '✋ \*Approval needed: roll back search to revision 2\* \(INC-[0-9]{4}-0002'
check "alex.smith approves it" \
	before 'Approval needed: roll back search' '✅ \*Approved\* by <@U03ASM1TH7Q>\. Rolling back \*search\* to revision 2'
check "and it resolves" has '✅ \*Rollback complete: search is on revision 2\* \(INC-[0-9]{4}-0002\)'
check "PostgreSQL has it, requested by sam.lee" \
	has '^ INC-[0-9]{4}-0002 \| search +\| resolved \| P1 +\| 2 +\| U05SAMLEE01 '
check "and its detection by the watcher in the audit log" \
	has '\| INC-[0-9]{4}-0002 \| rollbot +\| detected +\| error rate 8\.3% above 5\.0% since'
check "rollbot stops cleanly on SIGTERM (under ASan: no report)" has '^rollbot stopped on SIGTERM with exit status 0\.$'
check "the report of the typed incident is printed" has '│ # Incident report: INC-[0-9]{4}-0001'

if [ "$failed" -gt 0 ]; then
	echo "demo-check: the transcript ($out):"
	sed 's/^/  | /' "$out"
fi
echo "demo: $passed passed, $failed failed"
[ "$failed" = 0 ]
