// SPDX-License-Identifier: MIT
//! cairn's statistics see what Rust allocates through `Cairn`. One test in
//! its own binary, so that no other test allocates while it measures.

use cairn::ctl::{epoch, stats};
use cairn::Cairn;

#[global_allocator]
static GLOBAL: Cairn = Cairn;

const MIB: usize = 1 << 20;

#[test]
fn allocated_follows_rust_allocations() {
    let e0 = epoch::advance().unwrap();
    let before = stats::allocated::read().unwrap();
    // 64 MiB is a mapping of its own, counted at once and to the page.
    let mut v: Vec<u8> = Vec::with_capacity(64 * MIB);
    v.push(1);
    let e1 = epoch::advance().unwrap();
    assert!(e1 > e0, "epoch {} then {}", e0, e1);
    let during = stats::allocated::read().unwrap();
    let grew = during as isize - before as isize;
    assert!(
        grew >= (64 * MIB) as isize && grew < (65 * MIB) as isize,
        "stats.allocated grew by {} for a 64 MiB Vec",
        grew
    );
    let active = stats::active::read().unwrap();
    let resident = stats::resident::read().unwrap();
    let mapped = stats::mapped::read().unwrap();
    let metadata = stats::metadata::read().unwrap();
    let retained = stats::retained::read().unwrap();
    assert!(active >= during, "active {} < allocated {}", active, during);
    assert!(mapped >= active, "mapped {} < active {}", mapped, active);
    assert!(metadata > 0 && metadata < mapped, "metadata {}", metadata);
    assert!(
        resident >= active,
        "resident {} < active {}",
        resident,
        active
    );
    assert!(retained < mapped, "retained {} mapped {}", retained, mapped);

    drop(v);
    epoch::advance().unwrap();
    let after = stats::allocated::read().unwrap();
    // Within a MiB: the harness allocates around the test too (all of it
    // with `override`, where its C side is on cairn as well).
    assert!(
        during - after > 63 * MIB && after < before + MIB,
        "allocated {} before, {} with the Vec, {} after it",
        before,
        during,
        after
    );
}
