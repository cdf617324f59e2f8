// SPDX-License-Identifier: MIT
//! The ctl module against cairn's mallctl tree: the options compiled in with
//! malloc_conf! read back, the writable names, and each error.

use cairn::ctl::{self, arenas, background_thread, max_background_threads, opt, prof, raw, Error};
use cairn::Cairn;

#[global_allocator]
static GLOBAL: Cairn = Cairn;

cairn::malloc_conf!("narenas:3,dirty_decay_ms:5000,muzzy_decay_ms:0,background_thread:false,tcache_max:4096,junk:false");

#[test]
fn options_compiled_in_are_in_force() {
    assert_eq!(opt::narenas::read(), Ok(3));
    assert_eq!(opt::dirty_decay_ms::read(), Ok(5000));
    assert_eq!(opt::muzzy_decay_ms::read(), Ok(0));
    assert_eq!(opt::background_thread::read(), Ok(false));
    assert_eq!(opt::tcache_max::read(), Ok(4096));
    assert_eq!(opt::tcache::read(), Ok(true));
    assert_eq!(opt::retain::read(), Ok(false));
    assert_eq!(opt::junk::read(), Ok("false"));
    assert_eq!(opt::thp::read(), Ok("default"));
    assert_eq!(opt::prof::read(), Ok(false));
    assert_eq!(opt::lg_prof_sample::read(), Ok(19));
    assert_eq!(opt::max_background_threads::read(), Ok(1));
    assert!(arenas::narenas::read().unwrap() >= 3);
    assert_eq!(arenas::page::read(), Ok(4096));
}

#[test]
fn version_is_the_librarys() {
    let v = ctl::version::read().unwrap();
    let c = unsafe { std::ffi::CStr::from_ptr(cairn::ffi::cairn_version()) };
    assert_eq!(v, c.to_str().unwrap());
    assert!(v.starts_with("0."), "version {}", v);
}

#[test]
fn purging_threads_turn_on_and_off() {
    // Off by the options above: only this test writes it.
    assert_eq!(background_thread::read(), Ok(false));
    background_thread::write(true).unwrap();
    assert_eq!(background_thread::read(), Ok(true));
    background_thread::write(false).unwrap();
    assert_eq!(background_thread::read(), Ok(false));
    assert_eq!(max_background_threads::read(), Ok(1));
    max_background_threads::write(1).unwrap();
    assert_eq!(max_background_threads::read(), Ok(1));
}

#[test]
fn created_arena_counts() {
    let before = arenas::narenas::read().unwrap();
    let a = arenas::create().unwrap();
    assert!(a >= 3, "arena {}", a);
    assert!(arenas::narenas::read().unwrap() > before.max(a));
    // Through the raw interface, a name with the number in it.
    let name = format!("arena.{}.initialized", a);
    assert_eq!(unsafe { raw::read::<bool>(&name) }, Ok(true));
}

#[test]
fn thread_counters_see_this_threads_allocations() {
    std::thread::spawn(|| {
        let before = ctl::thread::allocated::read().unwrap();
        let v: Vec<u8> = Vec::with_capacity(3 << 20);
        let after = ctl::thread::allocated::read().unwrap();
        assert!(
            after - before >= 3 << 20,
            "thread.allocated {} then {}",
            before,
            after
        );
        drop(v);
        assert!(ctl::thread::deallocated::read().unwrap() >= 3 << 20);
    })
    .join()
    .unwrap();
}

#[test]
fn errors_carry_mallctls_errno() {
    // ENOENT: no such name, an inner name.
    assert_eq!(
        unsafe { raw::read::<usize>("stats.no_such_thing") },
        Err(Error::NoEntry)
    );
    assert_eq!(unsafe { raw::read::<usize>("stats") }, Err(Error::NoEntry));
    // EINVAL: a value of the wrong size; a NUL inside the name.
    assert_eq!(
        unsafe { raw::read::<u32>("stats.allocated") },
        Err(Error::Invalid)
    );
    assert_eq!(
        unsafe { raw::read::<usize>("stats.allocated\0x") },
        Err(Error::Invalid)
    );
    // EPERM: writing a read-only name; reading an action.
    assert_eq!(
        unsafe { raw::write::<usize>("stats.allocated", 1) },
        Err(Error::Permission)
    );
    assert_eq!(
        unsafe { raw::read::<u64>("arena.0.purge") },
        Err(Error::Permission)
    );
    raw::run("arena.0.purge").unwrap();
    // EFAULT: resetting an arena that is not a created one; an arena
    // number past those given is no name at all.
    assert_eq!(raw::run("arena.0.reset"), Err(Error::Fault));
    assert_eq!(
        unsafe { raw::read::<isize>("arena.4000.dirty_decay_ms") },
        Err(Error::NoEntry)
    );

    assert_eq!(Error::NoEntry.errno(), 2);
    assert_eq!(Error::Permission.errno(), 1);
    assert_eq!(Error::Fault.errno(), 14);
    assert_eq!(Error::Invalid.errno(), 22);
    assert_eq!(Error::NoEntry.to_string(), "mallctl: no such name (ENOENT)");
}

#[test]
fn profiler_off_answers_as_jemalloc_without_it() {
    assert_eq!(prof::active::read(), Ok(false));
    assert_eq!(prof::active::write(true), Err(Error::NoEntry));
    assert_eq!(prof::active::write(false), Ok(()));
    assert_eq!(
        prof::dump(std::env::temp_dir().join("cairn-never.heap")),
        Err(Error::NoEntry)
    );
}

#[test]
fn raw_update_returns_the_old_value() {
    let a = arenas::create().unwrap();
    let name = format!("arena.{}.dirty_decay_ms", a);
    assert_eq!(unsafe { raw::read::<isize>(&name) }, Ok(5000));
    assert_eq!(unsafe { raw::update::<isize>(&name, 250) }, Ok(5000));
    assert_eq!(unsafe { raw::read::<isize>(&name) }, Ok(250));
    // Below -1 is out of range.
    assert_eq!(unsafe { raw::write::<isize>(&name, -2) }, Err(Error::Fault));
}
