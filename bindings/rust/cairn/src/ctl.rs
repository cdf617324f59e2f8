// SPDX-License-Identifier: MIT
//! cairn's `mallctl` names (README, "mallctl"), typed:
//!
//! ```
//! use cairn::ctl::{epoch, stats};
//! epoch::advance().unwrap(); // statistics move only when the epoch does
//! let allocated = stats::allocated::read().unwrap();
//! let resident = stats::resident::read().unwrap();
//! assert!(resident >= allocated);
//! ```
//!
//! Any other name is reached through [`raw`]. Each call goes to
//! `cairn_mallctl` (`mallctl` with the feature `override`) and fails with
//! its errno, as an [`Error`].

use std::ffi::CString;
use std::fmt;
use std::mem::{size_of, MaybeUninit};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use crate::ffi;

/// A failed `mallctl`, by the errno it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `EINVAL`: a value of the wrong size or out of range, or a name with
    /// a NUL byte inside.
    Invalid,
    /// `ENOENT`: no such name (or an inner one, such as `stats`), or one of
    /// a feature that is off (`prof.*` without `prof:true`).
    NoEntry,
    /// `EPERM`: writing a read-only name, or reading an action.
    Permission,
    /// `EFAULT`: an arena or cache that does not exist, a value out of
    /// the name's range, or an action that failed (a dump not written).
    Fault,
    /// `EAGAIN`: cairn could not start.
    Again,
    /// Any other errno.
    Other(i32),
}

/// The error codes, as Linux numbers them (asm-generic/errno-base.h).
const EPERM: c_int = 1;
const ENOENT: c_int = 2;
const EAGAIN: c_int = 11;
const EFAULT: c_int = 14;
const EINVAL: c_int = 22;

impl Error {
    fn from_errno(errno: c_int) -> Error {
        match errno {
            EINVAL => Error::Invalid,
            ENOENT => Error::NoEntry,
            EPERM => Error::Permission,
            EFAULT => Error::Fault,
            EAGAIN => Error::Again,
            other => Error::Other(other),
        }
    }

    /// The errno `mallctl` returned.
    pub fn errno(self) -> i32 {
        match self {
            Error::Invalid => EINVAL,
            Error::NoEntry => ENOENT,
            Error::Permission => EPERM,
            Error::Fault => EFAULT,
            Error::Again => EAGAIN,
            Error::Other(e) => e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Invalid => "invalid value (EINVAL)",
            Error::NoEntry => "no such name (ENOENT)",
            Error::Permission => "not permitted (EPERM)",
            Error::Fault => "no such arena or cache, or the action failed (EFAULT)",
            Error::Again => "cairn could not start (EAGAIN)",
            Error::Other(e) => return write!(f, "mallctl failed with errno {}", e),
        };
        write!(f, "mallctl: {}", what)
    }
}

impl std::error::Error for Error {}

/// The result of a `mallctl` call.
pub type Result<T> = std::result::Result<T, Error>;

fn check(rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(rc))
    }
}

/// Calls `f` with `name` NUL-terminated. Names are short: a stack buffer
/// serves them, so that reading a statistic allocates nothing.
fn with_name<R>(name: &str, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
    if name.as_bytes().contains(&0) {
        return Err(Error::Invalid);
    }
    let mut buf = [0u8; 128];
    if name.len() < buf.len() {
        buf[..name.len()].copy_from_slice(name.as_bytes());
        return Ok(f(buf.as_ptr() as *const c_char));
    }
    let owned = CString::new(name).map_err(|_| Error::Invalid)?;
    Ok(f(owned.as_ptr()))
}

/// Any name, by its type. The typed modules of [`ctl`](crate::ctl) are
/// these with the names and types fixed.
pub mod raw {
    use super::*;

    /// Reads `name` as a `T`. A `T` of another size than the name's is
    /// [`Error::Invalid`].
    ///
    /// # Safety
    ///
    /// `T` must be the name's C type (`size_t` is `usize`, `unsigned` `u32`,
    /// `bool` `bool` ...): cairn writes its bytes into the `T`.
    pub unsafe fn read<T: Copy>(name: &str) -> Result<T> {
        let mut value = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        let rc = with_name(name, |n| {
            ffi::mallctl(
                n,
                value.as_mut_ptr() as *mut c_void,
                &mut len,
                ptr::null_mut(),
                0,
            )
        })?;
        check(rc)?;
        if len != size_of::<T>() {
            return Err(Error::Invalid);
        }
        Ok(value.assume_init())
    }

    /// Writes `value` to `name`.
    ///
    /// # Safety
    ///
    /// `T` must be the name's C type; a pointer (a `const char *` name)
    /// must stay valid for as long as the name says cairn keeps it.
    pub unsafe fn write<T: Copy>(name: &str, mut value: T) -> Result<()> {
        let rc = with_name(name, |n| {
            ffi::mallctl(
                n,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut value as *mut T as *mut c_void,
                size_of::<T>(),
            )
        })?;
        check(rc)
    }

    /// Writes `value` to `name` and returns what the same call read: the
    /// value it had, for most names (`epoch` gives the new one).
    ///
    /// # Safety
    ///
    /// As [`read`] and [`write`].
    pub unsafe fn update<T: Copy>(name: &str, mut value: T) -> Result<T> {
        let mut old = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        let rc = with_name(name, |n| {
            ffi::mallctl(
                n,
                old.as_mut_ptr() as *mut c_void,
                &mut len,
                &mut value as *mut T as *mut c_void,
                size_of::<T>(),
            )
        })?;
        check(rc)?;
        if len != size_of::<T>() {
            return Err(Error::Invalid);
        }
        Ok(old.assume_init())
    }

    /// Reads a `const char *` name (`version`, `opt.junk` ...) as a string.
    /// A string that is not UTF-8 is [`Error::Invalid`].
    ///
    /// # Safety
    ///
    /// The name must be a string, and one cairn never rewrites (the
    /// options and the version are fixed once cairn started).
    pub unsafe fn read_str(name: &str) -> Result<&'static str> {
        let p: *const c_char = read(name)?;
        if p.is_null() {
            return Err(Error::Invalid);
        }
        std::ffi::CStr::from_ptr(p)
            .to_str()
            .map_err(|_| Error::Invalid)
    }

    /// Runs an action, a name that takes no value (`thread.tcache.flush`,
    /// `arena.0.purge` ...).
    pub fn run(name: &str) -> Result<()> {
        let rc = with_name(name, |n| unsafe {
            ffi::mallctl(n, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), 0)
        })?;
        check(rc)
    }
}

/// A read-only name of C type `$t`: a module with `read()`.
macro_rules! read_only {
    ($(#[$doc:meta])* $module:ident, $name:literal, $t:ty) => {
        $(#[$doc])*
        pub mod $module {
            #[doc = concat!("Reads `", $name, "`.")]
            pub fn read() -> $crate::ctl::Result<$t> {
                unsafe { $crate::ctl::raw::read::<$t>($name) }
            }
        }
    };
}

/// A read-only `const char *` name.
macro_rules! read_only_str {
    ($(#[$doc:meta])* $module:ident, $name:literal) => {
        $(#[$doc])*
        pub mod $module {
            #[doc = concat!("Reads `", $name, "`.")]
            pub fn read() -> $crate::ctl::Result<&'static str> {
                unsafe { $crate::ctl::raw::read_str($name) }
            }
        }
    };
}

/// A writable name of C type `$t`: `read()` and `write(value)`.
macro_rules! read_write {
    ($(#[$doc:meta])* $module:ident, $name:literal, $t:ty) => {
        $(#[$doc])*
        pub mod $module {
            #[doc = concat!("Reads `", $name, "`.")]
            pub fn read() -> $crate::ctl::Result<$t> {
                unsafe { $crate::ctl::raw::read::<$t>($name) }
            }
            #[doc = concat!("Writes `", $name, "`.")]
            pub fn write(value: $t) -> $crate::ctl::Result<()> {
                unsafe { $crate::ctl::raw::write::<$t>($name, value) }
            }
        }
    };
}

read_only_str!(
    /// cairn's version, "0.1.0".
    version,
    "version"
);

/// The statistics snapshot: `stats.*` and the per-arena numbers move only
/// when it is advanced.
pub mod epoch {
    /// Takes a new snapshot of every statistic; returns the new epoch
    /// (a write of `epoch` reads back the epoch after the refresh).
    pub fn advance() -> super::Result<u64> {
        unsafe { super::raw::update::<u64>("epoch", 1) }
    }

    /// The epoch of the last snapshot.
    pub fn read() -> super::Result<u64> {
        unsafe { super::raw::read::<u64>("epoch") }
    }
}

/// Totals, in bytes, as of the last [`epoch::advance`].
pub mod stats {
    read_only!(
        /// Bytes in blocks handed out (usable sizes).
        allocated,
        "stats.allocated",
        usize
    );
    read_only!(
        /// Bytes of pages in use: slabs, large runs, huge blocks.
        active,
        "stats.active",
        usize
    );
    read_only!(
        /// Bytes that may be resident: active pages, dirty free pages,
        /// cached huge mappings, metadata.
        resident,
        "stats.resident",
        usize
    );
    read_only!(
        /// Bytes mapped: arena chunks, huge blocks, cached huge mappings.
        mapped,
        "stats.mapped",
        usize
    );
    read_only!(
        /// Bytes of cairn's own metadata.
        metadata,
        "stats.metadata",
        usize
    );
    read_only!(
        /// Bytes of free arena pages given back to the kernel but still
        /// mapped.
        retained,
        "stats.retained",
        usize
    );
}

/// The options in force (README, "Options"), read-only.
pub mod opt {
    read_only!(
        /// Arenas threads are spread over.
        narenas,
        "opt.narenas",
        u32
    );
    read_only!(
        /// Whether threads have heaps of their own.
        tcache,
        "opt.tcache",
        bool
    );
    read_only!(
        /// The largest request a thread heap serves.
        tcache_max,
        "opt.tcache_max",
        usize
    );
    read_only!(
        /// How long freed pages stay resident, in ms (-1 never purged).
        dirty_decay_ms,
        "opt.dirty_decay_ms",
        isize
    );
    read_only!(
        /// How long purged pages stay lazily freed, in ms.
        muzzy_decay_ms,
        "opt.muzzy_decay_ms",
        isize
    );
    read_only!(
        /// Whether empty chunks keep their address space.
        retain,
        "opt.retain",
        bool
    );
    read_only!(
        /// Whether purging runs in background threads.
        background_thread,
        "opt.background_thread",
        bool
    );
    read_only!(
        /// The most purging threads.
        max_background_threads,
        "opt.max_background_threads",
        usize
    );
    read_only_str!(
        /// "false", "alloc", "free" or "true".
        junk,
        "opt.junk"
    );
    read_only_str!(
        /// "default", "always" or "never".
        thp,
        "opt.thp"
    );
    read_only!(
        /// Whether heap profiling is on.
        prof,
        "opt.prof",
        bool
    );
    read_only!(
        /// One sample per 2^n bytes allocated.
        lg_prof_sample,
        "opt.lg_prof_sample",
        usize
    );
}

/// The arenas.
pub mod arenas {
    read_only!(
        /// Arena numbers given so far, automatic and created.
        narenas,
        "arenas.narenas",
        u32
    );
    read_only!(
        /// The page size cairn works in.
        page,
        "arenas.page",
        usize
    );

    /// Makes an arena (`arenas.create`) and returns its number, for
    /// `MALLOCX_ARENA`.
    pub fn create() -> super::Result<u32> {
        unsafe { super::raw::read::<u32>("arenas.create") }
    }
}

read_write!(
    /// Whether purging threads run: writing `false` stops them before it
    /// returns, `true` starts them.
    background_thread,
    "background_thread",
    bool
);

read_write!(
    /// How many purging threads at most (up to the option's value).
    max_background_threads,
    "max_background_threads",
    usize
);

/// The calling thread's counters.
pub mod thread {
    read_only!(
        /// Bytes the thread allocated, ever.
        allocated,
        "thread.allocated",
        u64
    );
    read_only!(
        /// Bytes the thread freed, ever.
        deallocated,
        "thread.deallocated",
        u64
    );
}

/// The heap profiler (`prof:true`; README, "Heap profiling"). Without it,
/// these answer as jemalloc started with `opt.prof` false: `active` reads
/// false, turning it on and `dump` are [`Error::NoEntry`].
pub mod prof {
    use std::ffi::CString;
    use std::os::raw::c_char;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    read_write!(
        /// Whether sampling is on.
        active,
        "prof.active",
        bool
    );

    /// Writes a heap profile (jemalloc's `heap_v2` format, which `jeprof`
    /// reads) to `path`. A path cairn cannot write is [`super::Error::Fault`];
    /// one with a NUL byte [`super::Error::Invalid`].
    pub fn dump<P: AsRef<Path>>(path: P) -> super::Result<()> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|_| super::Error::Invalid)?;
        // cairn copies the path before it returns.
        unsafe { super::raw::write::<*const c_char>("prof.dump", path.as_ptr()) }
    }
}
