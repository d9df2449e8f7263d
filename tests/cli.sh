#!/usr/bin/env bash
# rollbot — the command line as an operator meets it: every refusal to start
# names what is wrong (and the line, for the file), and exits non-zero.
#
#   tests/cli.sh BUILD_DIR
#
# Prints one line per check and `cli: N passed, M failed` last.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bot="${1:-build}/rollbot"
passed=0
failed=0
tmp=$(mktemp -d /tmp/rollbot-cli.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT

# check NAME EXPECTED_STATUS EXPECTED_OUTPUT_SUBSTRING -- COMMAND…
check() {
	local name=$1 want_rc=$2 want=$3 out rc
	shift 4
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want_rc" ] && [[ $out == *"$want"* ]]; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: exit $rc (wanted $want_rc), output:"
		while IFS= read -r l; do echo "    | $l"; done <<<"$out"
		echo "    wanted it to contain: $want"
		failed=$((failed + 1))
	fi
}

good=tests/scenarios/rollbot.yaml
check "--help prints the usage" 0 "rollbot run --config FILE" -- "$bot" --help
check "no command prints the usage and fails" 2 "Usage:" -- "$bot"
check "unknown command" 2 "unknown command bogus" -- "$bot" bogus
check "run needs --config" 2 "run needs --config FILE" -- \
	env -u SLACK_APP_TOKEN "$bot" run
check "missing SLACK_APP_TOKEN is named" 2 "SLACK_APP_TOKEN is not set" -- \
	env -u SLACK_APP_TOKEN SLACK_BOT_TOKEN=xoxb-1 DATABASE_URL=postgresql:///x "$bot" run --config "$good"
check "a bot token given as the app token is refused" 2 "SLACK_APP_TOKEN does not start with xapp-" -- \
	env SLACK_APP_TOKEN=xoxb-1 SLACK_BOT_TOKEN=xoxb-1 DATABASE_URL=postgresql:///x "$bot" run --config "$good"
check "missing DATABASE_URL is named" 2 "DATABASE_URL is not set" -- \
	env -u DATABASE_URL SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 "$bot" run --config "$good"
check "the secrets never appear in the refusal" 2 "SLACK_BOT_TOKEN does not start with xoxb-" -- \
	env SLACK_APP_TOKEN=xapp-1-SECRETVALUE SLACK_BOT_TOKEN=nope-SECRETVALUE DATABASE_URL=postgresql:///x "$bot" run --config "$good"
out=$(env SLACK_APP_TOKEN=xapp-1-SECRETVALUE SLACK_BOT_TOKEN=nope-SECRETVALUE DATABASE_URL=postgresql:///x "$bot" run --config "$good" 2>&1)
if [[ $out == *SECRETVALUE* ]]; then
	echo "FAIL a token's value was printed: $out"
	failed=$((failed + 1))
else
	echo "ok   no token value in the output"
	passed=$((passed + 1))
fi
check "check-config accepts the example" 0 "ok: " -- "$bot" check-config examples/rollbot.yaml
# Programs this machine lacks: a warning naming each with the services that
# need it, and exit status 0 (the file is right; CI may lack the tools).
tools_want="warning: these services cannot be rolled back from this machine:
kubectl is not on PATH ($tmp/nobin): needed by payments-api, billing
/nonexistent/rollbot/migrate is missing or not an executable file: needed by billing --with-db
/nonexistent/rollbot/ledger-rollback is missing or not an executable file: needed by ledger"
# shellcheck disable=SC2016 # ${http_port} is the template's, not the shell's
sed 's/${http_port}/18065/' tests/scenarios/rollbot-tools.yaml.in >"$tmp/rollbot-tools.yaml"
check "check-config names the missing programs and who needs them" 0 "$tools_want" -- \
	env PATH="$tmp/nobin" "$bot" check-config "$tmp/rollbot-tools.yaml"
printf 'incidents_channels: [C05K8Q2V7XM]\napproval:\n  aprovers: [U03ASM1TH7Q]\n' >"$tmp/typo.yaml"
check "check-config names the line of a typo" 1 "typo.yaml:3:3: unknown key \`aprovers\`" -- \
	"$bot" check-config "$tmp/typo.yaml"
# Approvers too few for a rollback to be approved: a warning, never an error.
approvers_yaml() { # APPROVAL_LINES SERVICE_EXTRA
	printf 'incidents_channels: [C05K8Q2V7XM]\napproval:\n%b\nservices:\n  api:\n    method: kubectl\n    namespace: n\n    deployment: d\n%b' "$1" "$2"
}
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  required: 1' '' >"$tmp/alone.yaml"
check "check-config warns when an approver cannot get their own rollback approved" 0 \
	"alone.yaml: warning: approval: a rollback needs 1 approval from people other than the requester, and 1 approver is listed: anyone who is an approver cannot get their own rollback approved (list at least 2)" -- \
	"$bot" check-config "$tmp/alone.yaml"
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  required: 1\n  allow_self_approval: true' '' >"$tmp/self.yaml"
out=$("$bot" check-config "$tmp/self.yaml" 2>&1)
if [[ $out == *warning* || $out != *"ok: "* ]]; then
	echo "FAIL check-config warned although self-approval is allowed: $out"
	failed=$((failed + 1))
else
	echo "ok   no warning when the requester's own approval counts"
	passed=$((passed + 1))
fi
approvers_yaml '  approvers: [U03ASM1TH7Q, U04BOBBY111]\n  required: 1\n  allow_self_approval: true' \
	'    db_rollback: [/usr/local/bin/migrate, down]\n' >"$tmp/db.yaml"
check "check-config warns that --with-db needs two approvers besides the requester" 0 \
	"db.yaml: warning: approval: a database rollback (--with-db) needs 2 approvals from people other than the requester, and 2 approvers are listed: anyone who is an approver cannot get their own rollback approved (list at least 3)" -- \
	"$bot" check-config "$tmp/db.yaml"
# Escalation to nobody: a warning (the request would never be extended).
approvers_yaml '  approvers: [U03ASM1TH7Q, U04BOBBY111]\n  escalate_after: 5m' '' >"$tmp/esc.yaml"
check "check-config warns when escalate_after has no fallback" 0 \
	"esc.yaml: warning: approval: \`escalate_after\` is set but \`fallback\` lists nobody: an unanswered request will not be escalated" -- \
	"$bot" check-config "$tmp/esc.yaml"
# The sole release manager with an on-call lead as fallback: their own
# rollback goes to the fallback at once, so a note and not a warning.
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  required: 1\n  fallback: [U07ONCALL1]' '' >"$tmp/alonefb.yaml"
check "check-config notes that an approver's own rollback goes to the fallback" 0 \
	"alonefb.yaml: note: approval: a rollback needs 1 approval from people other than the requester, and 1 approver is listed: an approver's own rollback goes to the fallback approvers at once" -- \
	"$bot" check-config "$tmp/alonefb.yaml"
out=$("$bot" check-config "$tmp/alonefb.yaml" 2>&1)
if [[ $out == *warning* ]]; then
	echo "FAIL check-config warns although the fallback makes up the number:"
	echo "$out"
	failed=$((failed + 1))
else
	echo "ok   check-config does not warn when the fallback makes up the number"
	passed=$((passed + 1))
fi
# --with-db: a non-approver's goes to the release manager and the lead at
# once (a note); the release manager's own would have only the lead: warned.
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  required: 1\n  fallback: [U07ONCALL1]' \
	'    db_rollback: [/usr/local/bin/migrate, down]\n' >"$tmp/dbfb.yaml"
out=$("$bot" check-config "$tmp/dbfb.yaml" 2>&1)
want_note="dbfb.yaml: note: approval: a database rollback (--with-db) needs 2 approvals but only 1 approver is listed: such a request goes to the fallback approvers at once"
want_warn="dbfb.yaml: warning: approval: a database rollback (--with-db) needs 2 approvals from people other than the requester, and 1 approver is listed: anyone who is an approver cannot get their own rollback approved (list at least 3)"
if [[ $out == *"$want_note"* && $out == *"$want_warn"* ]]; then
	echo "ok   check-config notes the fallback for --with-db and still warns about an approver's own"
	passed=$((passed + 1))
else
	echo "FAIL check-config with a fallback and --with-db:"
	echo "$out"
	failed=$((failed + 1))
fi
# A fallback that is the requester only adds nobody: still a warning.
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  required: 1\n  fallback: [U03ASM1TH7Q]' '' >"$tmp/selffb.yaml"
check "check-config still warns when the fallback is only the approver" 0 \
	"selffb.yaml: warning: approval: a rollback needs 1 approval from people other than the requester" -- \
	"$bot" check-config "$tmp/selffb.yaml"
approvers_yaml '  approvers: [U03ASM1TH7Q]\n  approver_group: S05RLMGRS1\n  required: 2' '' >"$tmp/group.yaml"
check "check-config says it cannot read a group" 0 \
	"group.yaml: warning: approval: a rollback needs 2 approvals but only 1 approver is listed (unless approver group S05RLMGRS1 has more members: check-config cannot read a group, it does not ask Slack): nobody can get it approved" -- \
	"$bot" check-config "$tmp/group.yaml"
check "check-config of a missing file" 1 "$tmp/none.yaml" -- "$bot" check-config "$tmp/none.yaml"
check "run with a bad config stops before connecting" 2 "typo.yaml:3:3" -- \
	env SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 DATABASE_URL=postgresql:///x "$bot" run --config "$tmp/typo.yaml"
check "a bad --log-level is refused" 2 "--log-level must be" -- \
	env SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 DATABASE_URL=postgresql:///x "$bot" run --config "$good" --log-level loud
check "migrate needs DATABASE_URL" 2 "DATABASE_URL is not set" -- env -u DATABASE_URL "$bot" migrate
check "an unreachable database stops the start, without the URL's password" 1 "database:" -- \
	env SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 \
	DATABASE_URL="postgresql://rollbot:hunter2@127.0.0.1:1/rollbot?connect_timeout=2" "$bot" run --config "$good"
out=$(env DATABASE_URL="postgresql://rollbot:hunter2@127.0.0.1:1/rollbot?connect_timeout=2" "$bot" migrate 2>&1)
if [[ $out == *hunter2* ]]; then
	echo "FAIL the database password was printed: $out"
	failed=$((failed + 1))
else
	echo "ok   no database password in the output"
	passed=$((passed + 1))
fi

check "report needs an ID or --list" 2 "report needs an incident ID" -- "$bot" report
check "report refuses an unknown format" 2 "--format must be md or json, not pdf" -- \
	"$bot" report INC-2026-0001 --format pdf
check "report needs DATABASE_URL" 2 "DATABASE_URL is not set" -- \
	env -u DATABASE_URL "$bot" report INC-2026-0001
check "report of an unreachable database, without the URL's password" 1 "database:" -- \
	env DATABASE_URL="postgresql://rollbot:hunter2@127.0.0.1:1/rollbot?connect_timeout=2" \
	"$bot" report --list

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
