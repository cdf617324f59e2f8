// SPDX-License-Identifier: MIT
//! The profiler through ctl::prof, with prof:true compiled in: sampling
//! switched off and on, a dump written where it is asked for and refused
//! where it cannot be.

use cairn::ctl::{opt, prof, Error};
use cairn::Cairn;

#[global_allocator]
static GLOBAL: Cairn = Cairn;

// Every byte sampled, so that the dump holds this test's stacks; no dumps
// but the one asked for.
cairn::malloc_conf!("prof:true,lg_prof_sample:0,prof_gdump:false,prof_final:false");

#[inline(never)]
fn hold_blocks() -> Vec<Vec<u8>> {
    (0..64).map(|i| vec![i as u8; 1000 + i]).collect()
}

#[test]
fn dump_writes_a_heap_profile() {
    assert_eq!(opt::prof::read(), Ok(true));
    assert_eq!(opt::lg_prof_sample::read(), Ok(0));
    assert_eq!(prof::active::read(), Ok(true));
    prof::active::write(false).unwrap();
    assert_eq!(prof::active::read(), Ok(false));
    prof::active::write(true).unwrap();
    assert_eq!(prof::active::read(), Ok(true));

    let held = hold_blocks();
    let dir = std::env::temp_dir().join(format!("cairn-rust-prof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.heap");
    prof::dump(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        text.starts_with("heap_v2/1"),
        "dump starts: {:?}",
        &text[..text.len().min(80)]
    );
    assert!(
        text.contains("MAPPED_LIBRARIES"),
        "no MAPPED_LIBRARIES in the dump"
    );
    // The 64 blocks held, 1000 to 1063 bytes each, all sampled: the
    // totals line ("  t*: OBJECTS: BYTES [...]") counts at least their bytes.
    let header = text.lines().nth(1).unwrap();
    let bytes: u64 = header
        .trim_start()
        .strip_prefix("t*:")
        .and_then(|s| s.split(':').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the live bytes in {:?}", header));
    assert!(
        bytes >= 64 * 1000,
        "dump counts {} live bytes: {}",
        bytes,
        header
    );
    drop(held);

    assert_eq!(prof::dump("/nonexistent-dir/x.heap"), Err(Error::Fault));
    assert_eq!(prof::dump("bad\0path"), Err(Error::Invalid));
}
