// SPDX-License-Identifier: MIT
//! cairn's C API, as `include/cairn.h` and `include/cairn/jemalloc.h`
//! declare it.
//!
//! By default the crate links `libcairn-prefixed.a`, which replaces nothing:
//! the process keeps the system's `malloc`, and cairn answers only to the
//! functions below. With the feature `override` it links `libcairn.a`, which
//! is the process's `malloc` (C code in the same program allocates from
//! cairn too), and jemalloc's names lose their `cairn_` prefix. The Rust
//! names here are the same either way; only the symbols they bind to change.
//!
//! `cairn_malloc` … `cairn_usable_size` exist under those names in both
//! libraries (in `libcairn.a` they are aliases of `malloc` and its family).
#![allow(non_camel_case_types, non_snake_case)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// The low 6 bits of the flags: the alignment's bit number (`2^la`).
pub const fn MALLOCX_LG_ALIGN(la: u32) -> c_int {
    la as c_int
}

/// Alignment `a` (a power of two) in the flags.
pub const fn MALLOCX_ALIGN(a: usize) -> c_int {
    a.trailing_zeros() as c_int
}

/// The whole usable size is zero (`mallocx`), or what lies past the old
/// usable size (`rallocx`).
pub const MALLOCX_ZERO: c_int = 0x40;

/// Takes small blocks from explicit cache `tc` (`tcache.create`).
pub const fn MALLOCX_TCACHE(tc: c_uint) -> c_int {
    ((tc + 2) << 8) as c_int
}

/// Past the calling thread's cache, to its arena.
pub const MALLOCX_TCACHE_NONE: c_int = 1 << 8;

/// From arena `a` alone.
pub const fn MALLOCX_ARENA(a: c_uint) -> c_int {
    ((a + 1) << 20) as c_int
}

/// An opaque heap (`cairn_heap_create`).
#[repr(C)]
pub struct cairn_heap_t {
    _private: [u8; 0],
}

extern "C" {
    pub fn cairn_malloc(size: usize) -> *mut c_void;
    pub fn cairn_calloc(nmemb: usize, size: usize) -> *mut c_void;
    pub fn cairn_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    pub fn cairn_free(ptr: *mut c_void);
    pub fn cairn_free_sized(ptr: *mut c_void, size: usize);
    pub fn cairn_aligned_alloc(alignment: usize, size: usize) -> *mut c_void;
    pub fn cairn_realloc_aligned(ptr: *mut c_void, size: usize, alignment: usize) -> *mut c_void;
    pub fn cairn_usable_size(ptr: *const c_void) -> usize;

    pub fn cairn_purge(arena: c_int) -> usize;
    pub fn cairn_stats_refresh() -> u64;
    pub fn cairn_stats_read(name: *const c_char, value: *mut u64) -> c_int;
    pub fn cairn_version() -> *const c_char;

    pub fn cairn_heap_create() -> *mut cairn_heap_t;
    pub fn cairn_heap_arena(heap: *const cairn_heap_t) -> c_uint;
    pub fn cairn_heap_malloc(heap: *mut cairn_heap_t, size: usize) -> *mut c_void;
    pub fn cairn_heap_calloc(heap: *mut cairn_heap_t, nmemb: usize, size: usize) -> *mut c_void;
    pub fn cairn_heap_aligned_alloc(
        heap: *mut cairn_heap_t,
        alignment: usize,
        size: usize,
    ) -> *mut c_void;
    pub fn cairn_heap_realloc(
        heap: *mut cairn_heap_t,
        ptr: *mut c_void,
        size: usize,
    ) -> *mut c_void;
    pub fn cairn_heap_reset(heap: *mut cairn_heap_t);
    pub fn cairn_heap_destroy(heap: *mut cairn_heap_t);
}

// jemalloc's API: `cairn_mallocx` … in the prefixed library, `mallocx` …
// in the replacing one.
extern "C" {
    #[cfg_attr(not(feature = "override"), link_name = "cairn_mallocx")]
    pub fn mallocx(size: usize, flags: c_int) -> *mut c_void;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_rallocx")]
    pub fn rallocx(ptr: *mut c_void, size: usize, flags: c_int) -> *mut c_void;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_xallocx")]
    pub fn xallocx(ptr: *mut c_void, size: usize, extra: usize, flags: c_int) -> usize;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_sallocx")]
    pub fn sallocx(ptr: *const c_void, flags: c_int) -> usize;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_dallocx")]
    pub fn dallocx(ptr: *mut c_void, flags: c_int);
    #[cfg_attr(not(feature = "override"), link_name = "cairn_sdallocx")]
    pub fn sdallocx(ptr: *mut c_void, size: usize, flags: c_int);
    #[cfg_attr(not(feature = "override"), link_name = "cairn_nallocx")]
    pub fn nallocx(size: usize, flags: c_int) -> usize;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_mallctl")]
    pub fn mallctl(
        name: *const c_char,
        oldp: *mut c_void,
        oldlenp: *mut usize,
        newp: *mut c_void,
        newlen: usize,
    ) -> c_int;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_mallctlnametomib")]
    pub fn mallctlnametomib(name: *const c_char, mibp: *mut usize, miblenp: *mut usize) -> c_int;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_mallctlbymib")]
    pub fn mallctlbymib(
        mib: *const usize,
        miblen: usize,
        oldp: *mut c_void,
        oldlenp: *mut usize,
        newp: *mut c_void,
        newlen: usize,
    ) -> c_int;
    #[cfg_attr(not(feature = "override"), link_name = "cairn_malloc_stats_print")]
    pub fn malloc_stats_print(
        write_cb: Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
        cbopaque: *mut c_void,
        opts: *const c_char,
    );
}

/// The name of the options string a program may define (`cairn_malloc_conf`
/// in the prefixed library, `malloc_conf` in the replacing one); its value
/// is read at cairn's first call, before the environment's.
#[cfg(not(feature = "override"))]
pub const MALLOC_CONF_SYMBOL: &str = "cairn_malloc_conf";
#[cfg(feature = "override")]
pub const MALLOC_CONF_SYMBOL: &str = "malloc_conf";

/// The environment variable the linked library reads its options from.
#[cfg(not(feature = "override"))]
pub const MALLOC_CONF_ENV: &str = "CAIRN_MALLOC_CONF";
#[cfg(feature = "override")]
pub const MALLOC_CONF_ENV: &str = "MALLOC_CONF";
