#!/usr/bin/env bash
# rollbot — a throwaway PostgreSQL for tests, the demo and the bench (MIT licence).
#
#   tests/pg.sh start DIR          initdb + start a cluster in DIR, create database
#                                  `rollbot`, print its DATABASE_URL on stdout
#   tests/pg.sh createdb DIR NAME  create database NAME, print its DATABASE_URL
#   tests/pg.sh url DIR [NAME]     print the DATABASE_URL of NAME (default rollbot)
#   tests/pg.sh stop DIR           stop the cluster and remove DIR
#   tests/pg.sh halt DIR           stop the cluster, keep DIR (the demo keeps its data)
#   tests/pg.sh resume DIR         start a halted cluster again, print its DATABASE_URL
#
# DIR is the caller's (mktemp -d /tmp/pgt.XXXXXX; chmod 755). The server listens
# only on a Unix socket in DIR, so parallel clusters never fight over a TCP
# port and nothing outside the machine can reach them; authentication is
# `trust` for the same reason. Durability is switched off (fsync=off): the
# data lives for one test run.
#
# initdb refuses to run as root, so as root the cluster runs as `postgres`
# (or `nobody` when that user does not exist) through runuser, and DIR is
# handed to that user; as anyone else it runs as the caller.
#
# The URL printed is a libpq URI, e.g.
#   postgresql:///rollbot?host=/tmp/pgt.Ab12Cd&port=5432&user=postgres
# The port is given explicitly so that a PGPORT in the environment cannot
# point the client at a socket name the server does not use.
set -euo pipefail

PORT=5432
MARK=.rollbot-pg # marks DIR as ours: `stop` removes only such a folder
SUPERUSER=postgres

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: tests/pg.sh start DIR | stop DIR | halt DIR | resume DIR | createdb DIR NAME | url DIR [NAME]" >&2
	exit 2
}

# The newest installed server, preferring 15 (what Debian 12 ships).
find_bindir() {
	local d best=""
	if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
		echo /usr/lib/postgresql/15/bin
		return
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb ]] || continue
		if [[ -z $best ]] || [[ $(basename "$(dirname "$d")") -gt $(basename "$(dirname "$best")") ]]; then
			best=$d
		fi
	done
	if [[ -z $best ]] && command -v initdb >/dev/null 2>&1; then
		best=$(dirname "$(command -v initdb)")
	fi
	[[ -n $best ]] || die "no PostgreSQL server found (apt-get install postgresql-15)"
	echo "$best"
}

# Runs a command as the user that owns the cluster.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$OWNER" -- "$@"
	else
		"$@"
	fi
}

pick_owner() {
	if [[ $(id -u) -ne 0 ]]; then
		OWNER=$(id -un)
	elif getent passwd postgres >/dev/null; then
		OWNER=postgres
	else
		OWNER=nobody
	fi
}

# Percent-encodes a value for a URI query string (libpq decodes it).
urlencode() {
	local s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9/._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

url_for() {
	printf 'postgresql:///%s?host=%s&port=%s&user=%s\n' "$2" "$(urlencode "$1")" "$PORT" "$SUPERUSER"
}

check_name() {
	[[ $1 =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "bad database name '$1' (lower-case letters, digits, _)"
}

absdir() {
	[[ -n $1 ]] || usage
	mkdir -p -- "$1"
	(cd -- "$1" && pwd -P)
}

cmd_start() {
	local dir bindir
	dir=$(absdir "$1")
	case $dir in
	*[\'\\]*) die "DIR must not contain quotes or backslashes: $dir" ;;
	esac
	# The socket path must fit in sun_path (107 bytes).
	((${#dir} + 18 <= 107)) || die "DIR is too long for a Unix socket path: $dir"
	[[ ! -e $dir/data ]] || die "$dir/data exists: already started?"
	bindir=$(find_bindir)
	pick_owner
	touch "$dir/$MARK"
	chmod 755 "$dir"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R "$OWNER" "$dir"
		runuser -u "$OWNER" -- test -x "$dir" ||
			die "$OWNER cannot reach $dir: make its parent folders traversable (chmod o+x)"
	fi

	as_owner "$bindir/initdb" -D "$dir/data" -U "$SUPERUSER" --auth=trust \
		--encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		die "initdb failed"
	}
	cat >>"$dir/data/postgresql.conf" <<EOF

# tests/pg.sh: local socket only, speed over durability
listen_addresses = ''
port = $PORT
unix_socket_directories = '$dir'
unix_socket_permissions = 0777
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
EOF
	# PGPORT/PGHOST in the caller's environment must not change the server's port.
	as_owner env -u PGPORT -u PGHOST "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
		-w -t 60 start >/dev/null || {
		tail -n 30 "$dir/postgres.log" >&2 || true
		die "pg_ctl start failed"
	}
	"$bindir/createdb" -h "$dir" -p "$PORT" -U "$SUPERUSER" rollbot ||
		die "createdb rollbot failed"
	url_for "$dir" rollbot
}

cmd_createdb() {
	local dir name bindir
	[[ $# -eq 2 ]] || usage
	dir=$(cd -- "$1" && pwd -P) || die "no such folder: $1"
	name=$2
	check_name "$name"
	[[ -e $dir/$MARK ]] || die "$dir was not set up by tests/pg.sh start"
	bindir=$(find_bindir)
	"$bindir/createdb" -h "$dir" -p "$PORT" -U "$SUPERUSER" "$name" || die "createdb $name failed"
	url_for "$dir" "$name"
}

cmd_url() {
	local dir
	dir=$(cd -- "$1" && pwd -P) || die "no such folder: $1"
	check_name "${2:-rollbot}"
	url_for "$dir" "${2:-rollbot}"
}

cmd_stop() {
	local dir bindir
	[[ -d $1 ]] || die "no such folder: $1"
	dir=$(cd -- "$1" && pwd -P)
	# Refuse to rm -rf a folder this script did not create.
	[[ -e $dir/$MARK ]] || die "$dir was not set up by tests/pg.sh start; not removing it"
	if [[ -f $dir/data/postmaster.pid ]]; then
		bindir=$(find_bindir)
		pick_owner
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
			echo "pg.sh: pg_ctl stop failed (already stopped?)" >&2
	fi
	rm -rf -- "$dir"
}

# Stops the server and keeps its data (fast shutdown: what was committed is
# on disk, even with fsync off, as long as the machine does not crash).
cmd_halt() {
	local dir bindir
	[[ -d $1 ]] || die "no such folder: $1"
	dir=$(cd -- "$1" && pwd -P)
	[[ -e $dir/$MARK ]] || die "$dir was not set up by tests/pg.sh start"
	[[ -f $dir/data/postmaster.pid ]] || return 0
	bindir=$(find_bindir)
	pick_owner
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

cmd_resume() {
	local dir bindir
	[[ -d $1 ]] || die "no such folder: $1"
	dir=$(cd -- "$1" && pwd -P)
	[[ -e $dir/$MARK && -d $dir/data ]] || die "$dir was not set up by tests/pg.sh start"
	bindir=$(find_bindir)
	pick_owner
	if [[ ! -f $dir/data/postmaster.pid ]]; then
		as_owner env -u PGPORT -u PGHOST "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
			-w -t 60 start >/dev/null || {
			tail -n 30 "$dir/postgres.log" >&2 || true
			die "pg_ctl start failed"
		}
	fi
	url_for "$dir" rollbot
}

[[ $# -ge 2 ]] || usage
case $1 in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
halt) cmd_halt "$2" ;;
resume) cmd_resume "$2" ;;
createdb) cmd_createdb "${@:2}" ;;
url) cmd_url "${@:2}" ;;
*) usage ;;
esac
