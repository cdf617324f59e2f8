#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# conf.sh: the libFuzzer target for the MALLOC_CONF parser (tests/fuzz/conf.c), with its
# dictionary of option names and values; see libfuzzer.bash.
target=conf
test_runs=300000
test_seconds=8
target_flags="-dict=$(dirname "${BASH_SOURCE[0]}")/conf.dict -max_len=256"
source "$(dirname "${BASH_SOURCE[0]}")/libfuzzer.bash"
