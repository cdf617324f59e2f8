// SPDX-License-Identifier: MIT
//! `Cairn` as the global allocator: every size class range and alignment
//! through std::alloc's functions, which call it, and std's collections on
//! top. cairn_usable_size stops the program on a pointer that is not a live
//! cairn block, so each check of it proves the block is cairn's.

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::collections::HashMap;

use cairn::{usable_size, Cairn};

#[global_allocator]
static GLOBAL: Cairn = Cairn;

/// Sizes across the small classes, the page runs (32 KiB – 1 MiB) and the
/// mappings beyond, each at a class edge and off it.
const SIZES: &[usize] = &[
    1,
    7,
    16,
    17,
    100,
    128,
    129,
    1000,
    4096,
    5000,
    32 << 10,
    (32 << 10) + 1,
    100_000,
    1 << 20,
    (1 << 20) + 1,
    3 << 20,
];

const ALIGNS: &[usize] = &[1, 2, 8, 16, 32, 64, 256, 4096, 65536, 2 << 20, 4 << 20];

/// Bytes no two neighbouring blocks would share by chance, as long as the
/// largest size; copied and compared as slices, which stay fast in debug
/// builds.
fn pattern() -> Vec<u8> {
    let n = *SIZES.iter().max().unwrap();
    (0..n).map(|i| (i * 131 + i / 251 + 7) as u8).collect()
}

unsafe fn fill(p: *mut u8, pat: &[u8], n: usize) {
    std::ptr::copy_nonoverlapping(pat.as_ptr(), p, n);
}

unsafe fn holds_pattern(p: *const u8, pat: &[u8], n: usize) -> bool {
    std::slice::from_raw_parts(p, n) == &pat[..n]
}

#[test]
fn sizes_and_alignments() {
    let pat = pattern();
    for &align in ALIGNS {
        for &size in SIZES {
            let layout = Layout::from_size_align(size, align).unwrap();
            unsafe {
                let p = alloc(layout);
                assert!(!p.is_null(), "alloc({}, align {}) failed", size, align);
                assert_eq!(
                    p as usize % align,
                    0,
                    "alloc({}, align {}) = {:p}",
                    size,
                    align,
                    p
                );
                assert_eq!(p as usize % 16, 0, "every cairn block is 16-aligned");
                let usable = usable_size(p);
                assert!(usable >= size, "usable {} < size {}", usable, size);
                fill(p, &pat, size);
                assert!(holds_pattern(p, &pat, size));
                dealloc(p, layout);
            }
        }
    }
}

#[test]
fn zeroed_after_dirty_reuse() {
    // A block freed dirty and taken again must come back zero from
    // alloc_zeroed: cairn clears what is not fresh from the kernel.
    for &align in &[8usize, 16, 64, 4096, 2 << 20] {
        for &size in SIZES {
            let layout = Layout::from_size_align(size, align).unwrap();
            unsafe {
                for _ in 0..3 {
                    let p = alloc(layout);
                    assert!(!p.is_null());
                    std::ptr::write_bytes(p, 0xff, usable_size(p));
                    dealloc(p, layout);
                    let z = alloc_zeroed(layout);
                    assert!(!z.is_null());
                    assert_eq!(z as usize % align, 0);
                    assert!(
                        std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0),
                        "alloc_zeroed({}, align {}) has non-zero bytes",
                        size,
                        align
                    );
                    dealloc(z, layout);
                }
            }
        }
    }
}

#[test]
fn realloc_keeps_contents_and_alignment() {
    let pat = pattern();
    for &align in ALIGNS {
        for &from in SIZES {
            for &to in SIZES {
                let layout = Layout::from_size_align(from, align).unwrap();
                unsafe {
                    let p = alloc(layout);
                    assert!(!p.is_null());
                    fill(p, &pat, from);
                    let q = realloc(p, layout, to);
                    assert!(!q.is_null(), "realloc {} -> {} (align {})", from, to, align);
                    assert_eq!(
                        q as usize % align,
                        0,
                        "realloc {} -> {} align {}",
                        from,
                        to,
                        align
                    );
                    assert!(usable_size(q) >= to);
                    assert!(
                        holds_pattern(q, &pat, from.min(to)),
                        "realloc {} -> {} (align {}) lost bytes",
                        from,
                        to,
                        align
                    );
                    // Freed with the new size, as Rust does: cairn's sized
                    // free must accept it.
                    dealloc(q, Layout::from_size_align(to, align).unwrap());
                }
            }
        }
    }
}

#[test]
fn vec_growing_into_huge_blocks_keeps_contents() {
    // Past 1 MiB the Vec's buffer is a mapping of its own, which realloc
    // grows with mremap.
    let mut v: Vec<u64> = Vec::with_capacity(1 << 18);
    for i in 0..(1u64 << 24) {
        v.push(i);
    }
    assert!(usable_size(v.as_ptr()) >= v.capacity() * 8);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
}

#[test]
fn collections_run_on_cairn() {
    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..20_000u32 {
        map.entry(format!("key-{}", i % 5000)).or_default().push(i);
    }
    assert_eq!(map.len(), 5000);
    for (k, v) in &map {
        assert_eq!(v.len(), 4);
        assert!(usable_size(k.as_ptr()) >= k.len());
        assert!(usable_size(v.as_ptr()) >= v.len() * 4);
    }
    let boxed: Box<[u8]> = vec![7u8; 12345].into_boxed_slice();
    assert!(usable_size(boxed.as_ptr()) >= 12345);
}

#[test]
fn threads_free_each_others_blocks() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<String>>();
    let producer = std::thread::spawn(move || {
        for round in 0..200 {
            let batch: Vec<String> = (0..100).map(|i| format!("{}-{}", round, i)).collect();
            tx.send(batch).unwrap();
        }
    });
    let mut total = 0;
    for batch in rx {
        for s in &batch {
            assert!(usable_size(s.as_ptr()) >= s.len());
        }
        total += batch.len();
    }
    producer.join().unwrap();
    assert_eq!(total, 20_000);
}

extern "C" {
    fn malloc(size: usize) -> *mut std::os::raw::c_void;
}

/// The other side of every usable_size check above: a block from the C
/// library's malloc. In the prefixed build that is glibc's, which cairn
/// refuses with its report and abort (run in a child, this test's own
/// binary again); with `override`, cairn is malloc and knows the block.
#[test]
fn c_malloc_block_is_cairns_only_with_override() {
    if std::env::var_os("CAIRN_TEST_FOREIGN_CHILD").is_some() {
        let p = unsafe { malloc(64) };
        let n = usable_size(p);
        println!("usable {}", n);
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "c_malloc_block_is_cairns_only_with_override",
            "--exact",
            "--nocapture",
        ])
        .env("CAIRN_TEST_FOREIGN_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if cfg!(feature = "override") {
        assert!(out.status.success(), "child failed: {}", stderr);
        assert!(stdout.contains("usable 64"), "child said: {}", stdout);
    } else {
        assert!(
            !out.status.success(),
            "cairn took glibc's block: {}",
            stdout
        );
        assert!(
            stderr.contains("cairn: cairn_usable_size(): invalid pointer")
                && stderr.contains("(not allocated by cairn)"),
            "child's stderr: {}",
            stderr
        );
    }
}
