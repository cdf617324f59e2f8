#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# git.sh: git under cairn. A repository of a few hundred generated files is built over several
# commits, then logged, diffed, packed (gc) and checked (fsck). git allocates through malloc
# for objects, pack indexes, diffs and zlib; its pack and gc steps also run several processes
# and threads. With fixed names and dates every hash is deterministic, so the whole output
# must be identical with and without cairn preloaded.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

check "cairn starts in git" require_cairn git --version
check "libcairn is mapped in git" maps_show_cairn git hash-object --stdin

# Generates the files of commit number $1: files change, appear and go away between commits.
generate() {
	local c=$1
	mkdir -p src docs data
	awk -v c="$c" 'BEGIN {
		for (f = 0; f < 300; f++) {
			if ((f + c) % 11 == 0 && c > 0) continue      # some files go away
			dir = f % 3 == 0 ? "src" : f % 3 == 1 ? "docs" : "data"
			name = sprintf("%s/file%03d.txt", dir, f)
			n = 20 + (f * 7) % 60
			for (l = 0; l < n; l++) {
				# lines change in a few files each commit
				v = (f % 5 == c % 5 && l % 4 == 0) ? c : 0
				printf "file %d line %d value %d %s\n", f, l, (f * 31 + l * 17 + v) % 1000,
					substr("lorem ipsum dolor sit amet consectetur adipiscing", 1 + l % 20) > name
			}
			close(name)
		}
	}'
	# Files of the previous commit that this one leaves out.
	for f in src/*.txt docs/*.txt data/*.txt; do
		local num=${f##*file}
		num=$((10#${num%.txt}))
		if ((c > 0 && (num + c) % 11 == 0)); then
			rm -f "$f"
		fi
	done
	# One bigger file that grows each commit.
	seq 1 $((5000 * (c + 1))) | awk '{ print "row", $1, $1 * $1 % 9973 }' >data/big.log
}

workload() {
	export GIT_AUTHOR_NAME="Cairn Test" GIT_AUTHOR_EMAIL="test@example.invalid"
	export GIT_COMMITTER_NAME="Cairn Test" GIT_COMMITTER_EMAIL="test@example.invalid"
	export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD
	set -e
	git init -q -b main repo
	cd repo
	git config core.autocrlf false
	git config gc.auto 0
	local c
	for c in 0 1 2 3 4 5; do
		generate "$c"
		git add -A
		export GIT_AUTHOR_DATE="2024-01-0$((c + 1))T12:00:00Z"
		export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
		git commit -q -m "commit $c" -m "generated content, round $c"
		[[ $c == 2 ]] && git tag -a -m "tag at 2" v2
	done
	git log --stat --format='%H %an %ad %s' --date=iso-strict
	git diff --stat v2 main
	git diff HEAD~4 HEAD -- src | head -n 400
	git rev-list --all --objects | sort
	git gc -q --aggressive
	git count-objects -v | grep -E '^(count|in-pack|packs)'
	git fsck --full --strict 2>&1
	git verify-pack -v .git/objects/pack/*.idx | sort | tail -n 50
	git grep -c 'value 42' main | sort
	git archive --format=tar main | cksum
}

run_twice workload
tail -n 5 "$work/cairn.out"
finish
