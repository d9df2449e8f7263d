# shellcheck shell=bash
# rollbot — what tests/prometheus.sh and tests/alertmanager.sh share: a
# server run in a folder of its own, as an unprivileged user, halted and
# removed only when the folder is marked as theirs (MIT licence, see LICENSE).
#
# Sourced, not run. The script sets, before sourcing:
#   DAEMON  the server's name: its pid file is DIR/$DAEMON.pid
#   MARK    the file that marks DIR as the script's (`stop` removes only such a folder)
# and gets die, pick_owner (OWNER), as_owner_bg, running, alive, cmd_halt
# and cmd_stop.

die() {
	echo "$DAEMON.sh: $*" >&2
	exit 1
}

# As root: the Debian packages' `prometheus` user, else `nobody`; as anyone
# else, the caller.
pick_owner() {
	if [[ $(id -u) -ne 0 ]]; then
		OWNER=$(id -un)
	elif getent passwd prometheus >/dev/null; then
		OWNER=prometheus
	else
		OWNER=nobody
	fi
}

# Runs a command as the owner, in a session of its own (so that the caller's
# process group can be killed without it).
as_owner_bg() {
	if [[ $(id -u) -eq 0 ]]; then
		setsid setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --clear-groups -- "$@" &
	else
		setsid "$@" &
	fi
}

# Whether PID runs. A zombie does not: the harness (a child subreaper)
# inherits the server once `start` has exited, and reaps it only later.
running() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z ]]
}

alive() {
	[[ -f $1/$DAEMON.pid ]] && running "$(cat "$1/$DAEMON.pid")"
}

# Waits (WAIT_S at most) until URL/-/ready answers, failing with the end of
# DIR/$DAEMON.log when the server exits first.
wait_ready() {
	local dir=$1 url=$2 deadline=$((SECONDS + WAIT_S))
	until curl -fsS --noproxy '*' --max-time 2 -o /dev/null "$url/-/ready" 2>/dev/null; do
		alive "$dir" || {
			tail -n 20 "$dir/$DAEMON.log" >&2
			die "$DAEMON exited before it was ready"
		}
		((SECONDS < deadline)) || die "$DAEMON not ready within ${WAIT_S}s (log: $dir/$DAEMON.log)"
		sleep 0.1
	done
}

# Stops the server (TERM, then KILL after 10 s) and keeps DIR.
cmd_halt() {
	local dir=$1 pid i
	[[ -e $dir ]] || return 0 # a start that failed before making it
	[[ -d $dir && -e $dir/$MARK ]] || die "$dir was not set up by tests/$DAEMON.sh start"
	alive "$dir" || return 0
	pid=$(cat "$dir/$DAEMON.pid")
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		running "$pid" || break
		sleep 0.1
	done
	if running "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/$DAEMON.pid"
}

# Stops it and removes DIR.
cmd_stop() {
	[[ -e $1 ]] || return 0 # a start that failed before making it
	[[ -e $1/$MARK ]] || die "$1 was not set up by tests/$DAEMON.sh start; not removing it"
	cmd_halt "$1"
	rm -rf -- "$1"
}
