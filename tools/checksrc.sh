#!/usr/bin/env bash
# rollbot: source checks that CI runs instead of reviewers (STYLE.md rule 11).
#
# C files under bot/ commands/ tests/ tools/ must not use the banned functions
# (strcpy strcat sprintf vsprintf gets strtok strtok_r atoi system popen; use
# snprintf, the rb_buf_* helpers, strtol/strtoll, a hand-written tokenizer and
# uv_spawn with an argv), and must not assign inside an `if (...)` condition
# (curl CODE_STYLE.md: assign on the line before, then test).
# Comments and the contents of string and character literals are ignored, so
# `if (c == '=')` and a comment naming strcpy are fine. A line that really
# needs an exception carries the comment `checksrc:allow` and a reason.
# Shell scripts (tools/*.sh tests/*.sh .ci/run) go through shellcheck when it
# is installed. Problems are printed as file:line: reason; exit 1 if any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -d '' cfiles < <(find bot commands tests tools -type f \
	\( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z)

status=0
if [[ ${#cfiles[@]} -gt 0 ]]; then
	awk '
	# strip(): the line without comments, with string literals emptied to ""
	# and character literals replaced by x. A block comment may span lines
	# (in_comment carries over); a comment becomes one space.
	function strip(line,    out, i, n, c, q) {
		out = ""
		n = length(line)
		i = 1
		while (i <= n) {
			c = substr(line, i, 1)
			if (in_comment) {
				if (c == "*" && substr(line, i + 1, 1) == "/") {
					in_comment = 0
					out = out " "
					i += 2
				} else {
					i++
				}
				continue
			}
			if (c == "/" && substr(line, i + 1, 1) == "*") {
				in_comment = 1
				i += 2
				continue
			}
			if (c == "/" && substr(line, i + 1, 1) == "/")
				break
			if (c == "\"" || c == "\047") {
				q = c
				i++
				while (i <= n) {
					c = substr(line, i, 1)
					if (c == "\\") {
						i += 2
						continue
					}
					if (c == q)
						break
					i++
				}
				out = out (q == "\"" ? "\"\"" : "\047x\047")
				i++
				continue
			}
			out = out c
			i++
		}
		return out
	}

	function report(line, msg) {
		printf "%s:%d: %s\n", FILENAME, line, msg
		problems++
	}

	# check_cond(): an `if` condition (without its outer parentheses) holds
	# an assignment when a `=` is left after removing ==, !=, <= and >=.
	# <<= and >>= are assignments, so they are marked first.
	function check_cond(cond, line, allowed,    t) {
		t = cond
		gsub(/<<=|>>=/, " @ ", t)
		gsub(/==|!=|<=|>=/, "  ", t)
		if (!allowed && (index(t, "=") || index(t, "@")))
			report(line, "assignment inside an if condition: assign first, then test")
	}

	BEGIN {
		nb = split("strcpy strcat sprintf vsprintf gets strtok strtok_r atoi system popen", banned, " ")
		why["strcpy"] = "use snprintf or rb_buf_*"
		why["strcat"] = "use snprintf or rb_buf_*"
		why["sprintf"] = "use snprintf"
		why["vsprintf"] = "use vsnprintf"
		why["gets"] = "use fgets"
		why["strtok"] = "not reentrant; split by hand"
		why["strtok_r"] = "modifies its input; split by hand"
		why["atoi"] = "no error detection; use strtol"
		why["system"] = "runs a shell; use uv_spawn with an argv"
		why["popen"] = "runs a shell; use uv_spawn with pipes"
	}

	FNR == 1 {
		in_comment = 0
		in_if = 0
	}

	{
		s = strip($0)
		allowed = index($0, "checksrc:allow") > 0

		if (!allowed) {
			for (k = 1; k <= nb; k++) {
				name = banned[k]
				if (name == "system" || name == "popen")
					re = "(^|[^A-Za-z0-9_.>])" name "[ \t]*\\("
				else
					re = "(^|[^A-Za-z0-9_])" name "([^A-Za-z0-9_]|$)"
				if (match(s, re))
					report(FNR, "banned function " name "(): " why[name])
			}
		}

		# Find `if (`, then collect the condition up to the matching
		# parenthesis, across lines if need be.
		if (in_if)
			cond = cond " "
		pos = 1
		n = length(s)
		while (pos <= n) {
			if (in_if) {
				c = substr(s, pos, 1)
				pos++
				if (c == "(") {
					depth++
				} else if (c == ")") {
					depth--
					if (depth == 0) {
						check_cond(cond, if_line, if_allowed)
						in_if = 0
						continue
					}
				}
				cond = cond c
				continue
			}
			rest = substr(s, pos)
			if (!match(rest, /(^|[^A-Za-z0-9_])if[ \t]*\(/))
				break
			pos += RSTART - 1 + RLENGTH
			in_if = 1
			depth = 1
			cond = ""
			if_line = FNR
			if_allowed = allowed
		}
	}

	END {
		exit problems > 0
	}
	' "${cfiles[@]}" || status=1
fi

nsh=0
if command -v shellcheck >/dev/null 2>&1; then
	shopt -s nullglob
	shfiles=(tools/*.sh tests/*.sh)
	[[ -f .ci/run ]] && shfiles+=(.ci/run)
	nsh=${#shfiles[@]}
	if [[ $nsh -gt 0 ]]; then
		shellcheck -f gcc -x -P SCRIPTDIR "${shfiles[@]}" || status=1
	fi
fi

if [[ $status -ne 0 ]]; then
	echo "checksrc: FAILED" >&2
	exit 1
fi
echo "checksrc: ok ($((${#cfiles[@]} + nsh)) files)"
