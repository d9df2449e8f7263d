#!/usr/bin/env bash
# rollbot: checks of the files under docker/, run by `make test`.
#
# 1. Every YAML file parses (all documents of it), with whichever parser the
#    machine has: python3 with PyYAML, else ruby's Psych. With neither, the
#    parse check is skipped and says so. Compose files must take secrets
#    (…TOKEN, …PASSWORD, …SECRET, DATABASE_URL) from ${VARIABLES}.
# 2. Every Dockerfile: each FROM names a tag or digest other than `latest`;
#    each RUN that installs with apt-get also runs apt-get update, passes
#    --no-install-recommends and removes /var/lib/apt/lists; the last
#    (runtime) stage installs no -dev or compiler package and sets a USER
#    other than root.
# Problems are printed as file:line: reason; exit 1 if any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

problems=0
problem() {
	echo "$1: $2"
	problems=$((problems + 1))
}

# ---- YAML -------------------------------------------------------------------

mapfile -d '' yamls < <(find docker -type f \( -name '*.yaml' -o -name '*.yml' \) \
	-print0 2>/dev/null | sort -z)

yaml_python() {
	"$1" - "${yamls[@]}" <<'PY'
import re
import sys

import yaml

bad = 0
secret = re.compile(r"(TOKEN|PASSWORD|SECRET)$|^DATABASE_URL$")
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        print(f"{path}:{line}: YAML does not parse: {what}")
        bad += 1
        continue
    name = path.rsplit("/", 1)[-1]
    if not (name.startswith("compose") or name.startswith("docker-compose")):
        continue
    for doc in docs:
        services = (doc or {}).get("services") or {}
        for svc, body in services.items():
            env = (body or {}).get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
            for key, val in env.items():
                if secret.search(str(key)) and val is not None and "${" not in str(val):
                    line = next((i + 1 for i, l in enumerate(text.splitlines()) if str(key) in l), 0)
                    print(f"{path}:{line}: service {svc}: {key} is a literal; take it from ${{VARIABLE}}")
                    bad += 1
sys.exit(1 if bad else 0)
PY
}

yaml_ruby() {
	ruby -ryaml -e '
		bad = 0
		ARGV.each do |path|
			begin
				YAML.load_stream(File.read(path))
			rescue Psych::SyntaxError => e
				puts "#{path}:#{e.line}: YAML does not parse: #{e.problem}"
				bad += 1
			end
		end
		exit(bad > 0 ? 1 : 0)
	' "${yamls[@]}"
}

yaml_checked=""
if [[ ${#yamls[@]} -gt 0 ]]; then
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import yaml' 2>/dev/null; then
			yaml_python "$py" || problems=$((problems + 1))
			yaml_checked="python3"
			break
		fi
	done
	if [[ -z $yaml_checked ]] && command -v ruby >/dev/null 2>&1 &&
		ruby -ryaml -e '' 2>/dev/null; then
		yaml_ruby || problems=$((problems + 1))
		yaml_checked="ruby"
	fi
	if [[ -z $yaml_checked ]]; then
		echo "lint-docker: YAML parse check skipped (no python3 with PyYAML, no ruby)"
		# What can be said without a parser: YAML forbids tabs in indentation.
		for f in "${yamls[@]}"; do
			n=0
			while IFS= read -r line || [[ -n $line ]]; do
				n=$((n + 1))
				[[ $line == $'\t'* ]] && problem "$f:$n" "tab in YAML indentation"
			done <"$f"
		done
	fi
fi

# ---- Dockerfiles --------------------------------------------------------------

# lint_dockerfile FILE: reads the file into instructions (continuation lines
# joined, comment lines dropped as Docker does), then checks them.
lint_dockerfile() {
	local file=$1 raw n=0 start=0 inst="" cont=0
	local -a lines=() starts=()
	while IFS= read -r raw || [[ -n $raw ]]; do
		n=$((n + 1))
		if [[ $raw =~ ^[[:space:]]*# ]]; then
			continue
		fi
		if [[ $cont -eq 0 ]]; then
			[[ $raw =~ ^[[:space:]]*$ ]] && continue
			start=$n
			inst=""
		fi
		if [[ $raw =~ \\[[:space:]]*$ ]]; then
			inst+="${raw%\\*} "
			cont=1
			continue
		fi
		inst+=$raw
		cont=0
		lines+=("$inst")
		starts+=("$start")
	done <"$file"

	local i word kw rest image tag lastcomp stage_user="" stage_user_line=0
	local -a words=() stages=() runtime_pkgs=() runtime_lines=()
	local nstages=0 from_line=0
	for i in "${!lines[@]}"; do
		read -ra words <<<"${lines[$i]}"
		[[ ${#words[@]} -eq 0 ]] && continue
		kw=${words[0]^^}
		rest=${lines[$i]#*"${words[0]}"}
		case $kw in
		FROM)
			nstages=$((nstages + 1))
			from_line=${starts[$i]}
			stage_user=""
			runtime_pkgs=()
			runtime_lines=()
			image=""
			for word in "${words[@]:1}"; do
				[[ $word == --* ]] && continue
				image=$word
				break
			done
			if [[ ${#words[@]} -ge 4 && ${words[-2]^^} == AS ]]; then
				stages+=("${words[-1]}")
			fi
			if [[ -z $image ]]; then
				problem "$file:$from_line" "FROM without an image"
			elif [[ $image == *'$'* || $image == scratch || $image == *@sha256:* ]]; then
				:
			elif printf '%s\n' "${stages[@]}" | grep -qxF -- "$image"; then
				:
			else
				lastcomp=${image##*/}
				if [[ $lastcomp != *:* ]]; then
					problem "$file:$from_line" "FROM $image is not pinned to a tag"
				else
					tag=${lastcomp#*:}
					if [[ $tag == latest ]]; then
						problem "$file:$from_line" "FROM $image uses the latest tag"
					fi
				fi
			fi
			;;
		USER)
			stage_user=${words[1]:-}
			stage_user_line=${starts[$i]}
			;;
		RUN)
			if [[ $rest =~ apt(-get)?[[:space:]]+(-[^[:space:]]+[[:space:]]+)*install ]]; then
				[[ $rest == *"apt-get update"* || $rest == *"apt update"* ]] ||
					problem "$file:${starts[$i]}" "apt-get install without apt-get update in the same RUN"
				[[ $rest == *--no-install-recommends* ]] ||
					problem "$file:${starts[$i]}" "apt-get install without --no-install-recommends"
				[[ $rest == *"rm -rf /var/lib/apt/lists"* ]] ||
					problem "$file:${starts[$i]}" "apt lists not removed (rm -rf /var/lib/apt/lists/*) in the same RUN"
				# Package names: the words after `install` up to the next
				# shell operator.
				local in_install=0
				for word in "${words[@]:1}"; do
					case $word in
					install) in_install=1 ;;
					'&&' | '||' | ';' | '|' | *';') in_install=0 ;;
					-*) ;;
					*)
						if [[ $in_install -eq 1 ]]; then
							runtime_pkgs+=("$word")
							runtime_lines+=("${starts[$i]}")
						fi
						;;
					esac
				done
			fi
			;;
		esac
	done

	if [[ $nstages -eq 0 ]]; then
		problem "$file:1" "no FROM"
		return
	fi
	# The last stage is the image that ships.
	for i in "${!runtime_pkgs[@]}"; do
		word=${runtime_pkgs[$i]%%[:=]*}
		case $word in
		*-dev | build-essential | gcc | g++ | cc | make | clang | pkg-config)
			problem "$file:${runtime_lines[$i]}" "runtime stage installs build package $word"
			;;
		esac
	done
	case $stage_user in
	"")
		problem "$file:$from_line" "runtime stage has no USER (runs as root)"
		;;
	root | 0 | root:* | 0:*)
		problem "$file:$stage_user_line" "runtime stage runs as root (USER $stage_user)"
		;;
	esac
}

mapfile -d '' dockerfiles < <(find docker -type f \( -name 'Dockerfile' -o \
	-name 'Dockerfile.*' -o -name '*.Dockerfile' \) -print0 2>/dev/null | sort -z)
for f in "${dockerfiles[@]}"; do
	lint_dockerfile "$f"
done

if [[ $problems -gt 0 ]]; then
	echo "lint-docker: FAILED"
	exit 1
fi
echo "lint-docker: ok (${#yamls[@]} YAML${yaml_checked:+ parsed with $yaml_checked}, ${#dockerfiles[@]} Dockerfile)"
