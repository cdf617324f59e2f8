// SPDX-License-Identifier: MIT
//! Cairn's realloc of an over-aligned block does not copy it where cairn
//! can keep it in place or move its pages: a 64-aligned 256 MiB block
//! grown to 1 GiB takes almost no page fault (a copy into new pages would
//! take at least 128, even on 2 MiB pages); a large run shrinks and grows
//! back where it is. One test, alone in its binary, so that no other
//! thread takes the pages freed between a shrink and a growth.

use cairn::Cairn;
use std::alloc::{alloc, dealloc, realloc, Layout};

#[global_allocator]
static GLOBAL: Cairn = Cairn;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Minor page faults of this thread so far: field 10 of
/// /proc/thread-self/stat, counted after the command name, which may hold
/// spaces.
fn minflt() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split_whitespace().nth(7).unwrap().parse().unwrap()
}

#[test]
fn realloc_of_aligned_blocks_copies_nothing() {
    huge_block_grows_without_a_copy();
    large_run_resizes_in_place();
}

fn huge_block_grows_without_a_copy() {
    let layout = Layout::from_size_align(256 * MIB, 64).unwrap();
    unsafe {
        let p = alloc(layout);
        assert!(!p.is_null());
        for off in (0..layout.size()).step_by(4096) {
            *p.add(off) = (off >> 12) as u8;
        }
        let before = minflt();
        let q = realloc(p, layout, 1024 * MIB);
        let faults = minflt() - before;
        assert!(!q.is_null());
        assert_eq!(q as usize % 64, 0);
        assert!(
            faults < 64,
            "realloc of a 64-aligned 256 MiB block to 1 GiB: {} page faults",
            faults
        );
        for off in (0..layout.size()).step_by(4096) {
            assert_eq!(*q.add(off), (off >> 12) as u8, "offset {}", off);
        }
        dealloc(q, Layout::from_size_align(1024 * MIB, 64).unwrap());
    }
}

fn large_run_resizes_in_place() {
    for &align in &[64usize, 8 * KIB] {
        let layout = Layout::from_size_align(200 * KIB, align).unwrap();
        unsafe {
            let p = alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0x55, layout.size());
            let q = realloc(p, layout, 80 * KIB);
            assert_eq!(q, p, "align {}: shrinking moved the block", align);
            let small = Layout::from_size_align(80 * KIB, align).unwrap();
            let r = realloc(q, small, 120 * KIB);
            assert_eq!(r, p, "align {}: growing back into its pages moved it", align);
            assert!((0..80 * KIB).all(|i| *r.add(i) == 0x55));
            dealloc(r, Layout::from_size_align(120 * KIB, align).unwrap());
        }
    }
}
