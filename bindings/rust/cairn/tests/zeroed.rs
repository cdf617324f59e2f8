// SPDX-License-Identifier: MIT
//! alloc_zeroed leaves the clearing to cairn, which skips it for a mapping
//! fresh from the kernel: a zeroed 256 MiB Vec does not become resident.
//! Alone in its binary, so that no other test moves the RSS meanwhile.

use cairn::Cairn;

#[global_allocator]
static GLOBAL: Cairn = Cairn;

const MIB: usize = 1 << 20;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn fresh_zeroed_mapping_is_not_written() {
    for &align in &[8usize, 4096, 4 * MIB] {
        let before = rss_bytes();
        let layout = std::alloc::Layout::from_size_align(256 * MIB, align).unwrap();
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0);
        let after = rss_bytes();
        // A memset would have made all 256 MiB resident.
        assert!(
            after < before + 16 * MIB,
            "align {}: RSS {} MiB before, {} MiB after a zeroed 256 MiB block",
            align,
            before / MIB,
            after / MIB
        );
        unsafe {
            assert_eq!(*p, 0);
            assert_eq!(*p.add(256 * MIB - 1), 0);
            *p.add(100 * MIB) = 1;
            std::alloc::dealloc(p, layout);
        }
        // The freed mapping is cached for reuse; purge it, so that the next
        // round gets a fresh one again.
        unsafe { cairn::ffi::cairn_purge(-1) };
    }
}
