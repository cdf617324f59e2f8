// SPDX-License-Identifier: MIT
//! cairn as Rust's global allocator:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: cairn::Cairn = cairn::Cairn;
//! # fn main() { let v = vec![1u8; 100]; assert!(cairn::usable_size(v.as_ptr()) >= 100); }
//! ```
//!
//! By default the crate links the prefixed library (`libcairn-prefixed.a`):
//! Rust's allocations go to cairn and the C code of the same process keeps
//! the system's `malloc`. The feature `override` links `libcairn.a` instead,
//! which is `malloc` for the whole process. [`ctl`] reads and sets cairn's
//! `mallctl` names (statistics, options, purging threads, the profiler).

use std::alloc::{GlobalAlloc, Layout};
use std::os::raw::{c_char, c_int, c_void};

pub use cairn_sys as ffi;

pub mod ctl;

/// The alignment of every block cairn hands out: its least size class is
/// 16 bytes, and every class is a multiple of 16 (README, "What a block
/// is"). tikv-jemallocator also passes the alignment when it exceeds the
/// size, because jemalloc's 8-byte class is only 8-aligned; cairn has no
/// such class, so a layout needs the aligned entry points only past this.
const MIN_ALIGN: usize = 16;

#[inline]
fn align_flags(align: usize) -> c_int {
    if align <= MIN_ALIGN {
        0
    } else {
        ffi::MALLOCX_ALIGN(align)
    }
}

/// cairn, as a [`GlobalAlloc`]: `#[global_allocator] static A: Cairn = Cairn;`
///
/// Frees are sized (`cairn_free_sized`); over-aligned layouts go through
/// cairn's aligned entry points (`cairn_aligned_alloc`, `mallocx` with
/// `MALLOCX_ALIGN`, `rallocx`), and a block of any alignment is freed the
/// same way, since cairn finds a block's geometry from its address.
/// `alloc_zeroed` asks cairn for zeroed memory (`calloc`, `MALLOCX_ZERO`)
/// rather than clearing it here: cairn knows when a block is a mapping
/// fresh from the kernel (over 1 MiB), and does not clear those again.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cairn;

unsafe impl GlobalAlloc for Cairn {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let flags = align_flags(layout.align());
        if flags == 0 {
            ffi::cairn_malloc(layout.size()) as *mut u8
        } else {
            ffi::cairn_aligned_alloc(layout.align(), layout.size()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let flags = align_flags(layout.align());
        if flags == 0 {
            ffi::cairn_calloc(1, layout.size()) as *mut u8
        } else {
            ffi::mallocx(layout.size(), flags | ffi::MALLOCX_ZERO) as *mut u8
        }
    }

    // Not sdallocx: it looks the block up once more to check the size
    // against it, and refuses sizes that rallocx leaves over-aligned blocks
    // with (a large one kept in place while it shrinks).
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ffi::cairn_free_sized(ptr as *mut c_void, layout.size())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let flags = align_flags(layout.align());
        if flags == 0 {
            ffi::cairn_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            ffi::rallocx(ptr as *mut c_void, new_size, flags) as *mut u8
        }
    }
}

/// The usable size of a block cairn handed out: at least what was asked
/// for. A pointer that is not the start of a live cairn block stops the
/// program with cairn's report (`cairn_usable_size(): invalid pointer`),
/// which is why a Rust program can use it to check where a block came from;
/// a null pointer gives 0.
pub fn usable_size<T>(ptr: *const T) -> usize {
    // cairn looks the address up in its page map before touching it, so a
    // wrong pointer ends in its report, never in a read through it.
    unsafe { ffi::cairn_usable_size(ptr as *const c_void) }
}

/// The options string a program compiles in, read at cairn's first call
/// (as `cairn_malloc_conf`, or `malloc_conf` with `override`); the
/// environment variable ([`ffi::MALLOC_CONF_ENV`]) wins over it. Made by
/// [`malloc_conf!`].
#[doc(hidden)]
#[repr(transparent)]
pub struct MallocConf(pub *const c_char);

// A pointer to a string literal, never written.
unsafe impl Sync for MallocConf {}

/// Compiles cairn's options into the program, as C's
/// `const char *malloc_conf = "...";` does: `cairn::malloc_conf!("prof:true");`
/// at the top level of the binary crate, once.
#[cfg(not(feature = "override"))]
#[macro_export]
macro_rules! malloc_conf {
    ($conf:literal) => {
        #[export_name = "cairn_malloc_conf"]
        #[used]
        static CAIRN_MALLOC_CONF: $crate::MallocConf =
            $crate::MallocConf(concat!($conf, "\0").as_ptr() as *const _);
    };
}

/// Compiles cairn's options into the program, as C's
/// `const char *malloc_conf = "...";` does: `cairn::malloc_conf!("prof:true");`
/// at the top level of the binary crate, once.
#[cfg(feature = "override")]
#[macro_export]
macro_rules! malloc_conf {
    ($conf:literal) => {
        #[export_name = "malloc_conf"]
        #[used]
        static CAIRN_MALLOC_CONF: $crate::MallocConf =
            $crate::MallocConf(concat!($conf, "\0").as_ptr() as *const _);
    };
}
