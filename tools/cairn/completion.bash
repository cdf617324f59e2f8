# SPDX-License-Identifier: MIT
# bash completion for the cairn command: `cairn completion bash` prints this
# file, and make install puts it where bash-completion loads it on demand
# (share/bash-completion/completions/cairn). Option names come from the
# command itself (`cairn options --names`), so they follow the library.
#
# bash splits words at the colons of COMP_WORDBREAKS, and `--conf
# narenas:4,tc` holds some, so the words are split again here at blanks
# alone; the answers are then cut to the part bash takes as the word.
_cairn() {
	local line=${COMP_LINE:0:COMP_POINT} words cword cur prev i
	read -r -a words <<<"$line"
	[[ $line == *[[:space:]] || ${#words[@]} == 0 ]] && words+=("")
	cword=$((${#words[@]} - 1))
	cur=${words[cword]}
	prev=${words[cword - 1]:-}
	local cmd=${words[0]} reply=()
	if ((cword == 1)); then
		mapfile -t reply < <(compgen -W "run options version prof completion --help" -- "$cur")
	else
		case ${words[1]} in
		run)
			# Past `--` or the program's name, the words are the program's.
			for ((i = 2; i < cword; i++)); do
				case ${words[i]} in
				--) break ;;
				--conf | --prof | --lib) ((i++)) ;;
				-*) ;;
				*) break ;;
				esac
			done
			if ((i < cword)); then
				[[ ${words[i]} == -- ]] && ((i++))
				if ((i == cword)); then
					mapfile -t reply < <(compgen -c -- "$cur")
				else
					mapfile -t reply < <(compgen -f -- "$cur")
				fi
			elif [[ $prev == --conf ]]; then
				# The item being typed is after the last comma; a name is
				# completed up to its colon.
				local head=${cur%"${cur##*,}"} item=${cur##*,}
				if [[ $item != *:* ]]; then
					mapfile -t reply < <(compgen -P "$head" -S : \
						-W "$("$cmd" options --names 2>/dev/null)" -- "$item")
					compopt -o nospace 2>/dev/null
				fi
			elif [[ $prev == --prof || $prev == --lib ]]; then
				mapfile -t reply < <(compgen -f -- "$cur")
			elif [[ $cur == -* ]]; then
				mapfile -t reply < <(compgen -W "--conf --prof --stats --lib --help --" -- "$cur")
			else
				mapfile -t reply < <(compgen -c -- "$cur")
			fi
			;;
		options)
			mapfile -t reply < <(compgen -W "--names --help $("$cmd" options --names 2>/dev/null)" \
				-- "$cur")
			;;
		prof)
			if ((cword == 2)); then
				mapfile -t reply < <(compgen -W "top diff collapsed flame --help" -- "$cur")
			else
				mapfile -t reply < <(compgen -f -- "$cur")
			fi
			;;
		completion)
			((cword == 2)) && mapfile -t reply < <(compgen -W "bash" -- "$cur")
			;;
		esac
	fi
	# What bash takes as the word is the end of ours, after its last break.
	local cut=${cur%"${COMP_WORDS[COMP_CWORD]}"}
	COMPREPLY=("${reply[@]#"$cut"}")
}
complete -F _cairn cairn
