#!/usr/bin/env bash
# rollbot — run every test of one or more build folders (MIT licence, see LICENSE).
#
#   tests/run.sh [--unit-only] [BUILD_DIR …]      (default: build)
#
# `make test` calls it as `tests/run.sh build build-asan`, `make unit` with
# --unit-only. For each build folder it runs every BUILD/test_* (cmocka) with
# a fresh database in a throwaway PostgreSQL cluster as DATABASE_URL and a
# 120 s timeout each, tests/cli.sh, tests/demo-check.sh (`make demo` with
# that build, its transcript checked), then the scenario harness
# BUILD/harness on the same cluster. It counts tests from cmocka's summary
# lines and from the scripts' and the harness's last line; a unit binary that crashes, times out or exits non-zero without
# a summary counts as one failure, and so does one that exits non-zero after
# a clean summary (a sanitizer report at exit). The very last line is
# `N passed, M failed` over everything; the exit status is 0 only when
# nothing failed and something passed. The cluster is stopped and removed
# whatever happens. ROLLBOT_UNIT_TIMEOUT overrides the 120 s. Without
# --unit-only it also runs, once, tests/k8s.sh (the Kubernetes manifests
# against examples/rollbot.yaml).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2

UNIT_TIMEOUT=${ROLLBOT_UNIT_TIMEOUT:-120} # seconds per unit test binary
HARNESS_TIMEOUT=3000 # a backstop: the harness has its own per-scenario timeouts

unit_only=0
dirs=()
for arg in "$@"; do
	case $arg in
	--unit-only) unit_only=1 ;;
	-h | --help)
		sed -n '2,19s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $arg" >&2
		exit 2
		;;
	*) dirs+=("$arg") ;;
	esac
done
[ ${#dirs[@]} -gt 0 ] || dirs=(build)

passed=0
failed=0
pgdir=""
pg_up=0
work=$(mktemp -d /tmp/rollbot-run.XXXXXX) || exit 2

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$pg_up" = 1 ]; then
		bash tests/pg.sh stop "$pgdir" >/dev/null 2>&1 || echo "run.sh: could not stop PostgreSQL in $pgdir" >&2
	fi
	[ -n "$pgdir" ] && rm -rf "$pgdir"
	rm -rf "$work"
}
trap cleanup EXIT
# timeout runs in --foreground mode so that a Ctrl-C reaches the test being
# run too (the harness then stops the bot, the fake and its databases first).
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

# Sanitizers: leaks are failures, and UBSan stops at the first report with
# a stack (harmless for binaries built without them).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export CMOCKA_MESSAGE_OUTPUT=stdout
unset CMOCKA_XML_FILE

# One cluster for the whole run; each unit binary gets a database of its own.
start_pg() {
	pgdir=$(mktemp -d /tmp/rollbot-pg.XXXXXX) || return 1
	chmod 755 "$pgdir"
	if bash tests/pg.sh start "$pgdir" >"$work/pg.url"; then
		pg_up=1
		return 0
	fi
	echo "run.sh: tests/pg.sh start failed: counted as 1 failed" >&2
	failed=$((failed + 1))
	return 1
}

# Prints a fresh database's URL, or nothing.
new_db() {
	[ "$pg_up" = 1 ] || return 0
	# Called in $( ), so no counter survives: the name says build and binary.
	bash tests/pg.sh createdb "$pgdir" "unit_$(tr -c 'a-z0-9_\n' '_' <<<"$1")" | tail -n 1
}

# Sums cmocka's "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s), listed
# below:" lines of one binary's output (several groups may print several).
count_lines() {
	local tag=$1 file=$2
	sed -n "s/^\[  $tag  \] \([0-9][0-9]*\) test.*/\1/p" "$file" | awk '{ s += $1 } END { print s + 0 }'
}

run_unit() {
	local bin=$1 name out rc p f summary url
	name=$(basename "$bin")
	out="$work/$name.out"
	url=$(new_db "$bin")
	DATABASE_URL="$url" timeout --foreground -k 5 "$UNIT_TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(count_lines PASSED "$out")
	f=$(count_lines FAILED "$out")
	summary=0
	grep -q '^\[  \(PASSED\|FAILED\)  \] [0-9]' "$out" && summary=1
	if [ "$summary" = 0 ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "run.sh: $name timed out after ${UNIT_TIMEOUT}s: counted as 1 failed"
		else
			echo "run.sh: $name exited with status $rc without a cmocka summary: counted as 1 failed"
		fi
		p=0
		f=1
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "run.sh: $name exited with status $rc after a clean summary (sanitizer report?): counted as 1 failed"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "run.sh: $name: $p passed, $f failed"
}

run_harness() {
	local args=(--build "$1")
	[ "$pg_up" = 1 ] && args+=(--pg-dir "$pgdir")
	run_script harness "$HARNESS_TIMEOUT" "$1/harness" "${args[@]}"
}

# Runs a test program whose last line is "LABEL: N passed, M failed" and
# adds its counts; one that ends without that line counts as 1 failed, and
# so does one that exits non-zero after a clean summary (a sanitizer report).
run_script() {
	local label=$1 limit=$2 out="$work/script.$1.$RANDOM.out" rc line p f
	shift 2
	timeout --foreground -k 10 "$limit" "$@" 2>&1 | tee -i "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed$" "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "run.sh: $* exited with status $rc without its summary: counted as 1 failed"
		failed=$((failed + 1))
		return
	fi
	p=$(sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "run.sh: $* exited with status $rc after a clean summary (sanitizer report?): counted as 1 failed"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

start_pg || true

if [ -x tests/stubs/selftest.sh ]; then
	echo
	echo "=== backend stubs ==="
	run_script "stubs selftest" 300 tests/stubs/selftest.sh
fi

if [ "$unit_only" != 1 ]; then
	echo
	echo "=== Kubernetes manifests against examples/rollbot.yaml ==="
	run_script k8s 60 tests/k8s.sh
fi

i=0
for b in "${dirs[@]}"; do
	i=$((i + 1))
	echo
	echo "=== $b: unit tests ==="
	if [ ! -d "$b" ]; then
		echo "run.sh: no build folder $b (run make first): counted as 1 failed"
		failed=$((failed + 1))
		continue
	fi
	n=0
	for bin in "$b"/test_*; do
		if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
			continue
		fi
		n=$((n + 1))
		echo "--- $bin"
		run_unit "$bin"
	done
	[ "$n" -gt 0 ] || echo "run.sh: no unit test binaries in $b"
	[ "$unit_only" = 1 ] && continue

	echo
	echo "=== $b: command line ==="
	run_script cli 300 tests/cli.sh "$b"

	echo
	echo "=== $b: make demo's transcript ==="
	run_script demo 300 tests/demo-check.sh "$b"

	echo
	echo "=== $b: scenarios ==="
	if [ ! -x "$b/harness" ]; then
		echo "run.sh: $b/harness is missing: counted as 1 failed"
		failed=$((failed + 1))
		continue
	fi
	run_harness "$b" "$i"
done

echo
if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
	status=0
else
	status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
