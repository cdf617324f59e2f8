#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ulimit.sh: python3 under an address-space limit (`ulimit -v`, RLIMIT_AS), with cairn
# preloaded. The limit counts every mapping, reserved or not: cairn must start and work
# under 64 MiB, as glibc's malloc does, and reserve address space only in proportion to use.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

cat >"$work/limited.py" <<'PY'
import hashlib, json
d = {i: str(i) * (i % 9) for i in range(100_000)}
s = json.dumps(d)
try:
    bytearray(256 << 20)
    print("no MemoryError")
except MemoryError:
    print("MemoryError")
b = bytearray(8 << 20)
print(len(d), len(s), hashlib.sha1(s.encode()).hexdigest(), len(b))
PY

limited() {
	(
		ulimit -v 65536
		"$PYTHON" "$work/limited.py"
	)
}
run_twice limited
check "python3 reports MemoryError beyond the limit" grep -qx MemoryError "$work/cairn.out"
cat "$work/cairn.out"
finish
