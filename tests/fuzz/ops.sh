#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ops.sh: the libFuzzer target for operation sequences on cairn (tests/fuzz/ops.c), checked by
# the model of tests/fuzz/model.h; see libfuzzer.bash.
target=ops
test_runs=100000
test_seconds=10
target_flags="-max_len=1024"
source "$(dirname "${BASH_SOURCE[0]}")/libfuzzer.bash"
