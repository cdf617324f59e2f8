// SPDX-License-Identifier: MIT
//! Builds cairn from the repository this crate sits in, with its own
//! Makefile, and links the static archive: lib/libcairn-prefixed.a, or
//! lib/libcairn.a with the `override` feature.
//!
//! The Makefile writes into build/ and lib/ of the folder it runs in, so the
//! sources it needs (Makefile, src/, include/, tools/) are mirrored into
//! OUT_DIR and make runs there: a cargo build never touches the checkout's
//! own build folders, and two builds with different features never share
//! objects. A file is rewritten only when its bytes changed, so that its
//! mtime, and make's view of what is out of date, stay as they were.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

// What `make` reads: the Makefile includes port.mk.
const MIRRORED: &[&str] = &["Makefile", "port.mk", "src", "include", "tools"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../..");
    if !root.join("Makefile").is_file() || !root.join("src/api/malloc.c").is_file() {
        fail(&format!(
            "cairn's sources are not at {} (the crate builds cairn from the repository it is in)",
            root.display()
        ));
    }
    let host = env::var("HOST").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    if host != target {
        fail(&format!(
            "building for {} on {}: cairn's Makefile builds for the host only",
            target, host
        ));
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("cairn");
    if let Err(e) = fs::create_dir_all(&out) {
        fail(&format!("cannot make {}: {}", out.display(), e));
    }
    for name in MIRRORED {
        if let Err(e) = mirror(&root.join(name), &out.join(name)) {
            fail(&format!("copying {} into {}: {}", name, out.display(), e));
        }
        println!("cargo:rerun-if-changed={}", root.join(name).display());
    }

    let overriding = env::var_os("CARGO_FEATURE_OVERRIDE").is_some();
    let (goal, lib) = if overriding {
        ("lib/libcairn.a", "cairn")
    } else {
        ("lib/libcairn-prefixed.a", "cairn-prefixed")
    };

    let mut make = Command::new(env::var_os("MAKE").unwrap_or_else(|| "make".into()));
    // T (make test T=...) names tests, which the mirror does not hold: a
    // make test above cargo must not pass it down.
    make.arg("-C").arg(&out).arg(goal).arg("T=");
    // A make above cargo (make test) passes its own jobserver in MAKEFLAGS,
    // whose descriptors cargo does not hand on; cargo's jobserver is the one
    // a build script may use.
    make.env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    match env::var_os("CARGO_MAKEFLAGS") {
        Some(flags) => {
            make.env("MAKEFLAGS", flags);
        }
        None => {
            make.arg(format!(
                "-j{}",
                env::var("NUM_JOBS").unwrap_or_else(|_| "1".into())
            ));
        }
    }
    let status = match make.status() {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot run make: {}", e)),
    };
    if !status.success() {
        fail(&format!(
            "make -C {} {} failed ({})",
            out.display(),
            goal,
            status
        ));
    }

    println!(
        "cargo:rustc-link-search=native={}",
        out.join("lib").display()
    );
    println!("cargo:rustc-link-lib=static={}", lib);
    println!("cargo:rustc-link-lib=pthread");
    // For crates that build C against cairn: DEP_CAIRN_INCLUDE.
    println!("cargo:include={}", out.join("include").display());
    println!("cargo:rerun-if-env-changed=CFLAGS");
    println!("cargo:rerun-if-env-changed=CPPFLAGS");
    println!("cargo:rerun-if-env-changed=CC");
}

fn fail(msg: &str) -> ! {
    eprintln!("cairn-sys: {}", msg);
    std::process::exit(1);
}

/// Copies `from` (a file or a folder, recursively) to `to`, writing only the
/// files whose contents differ, and removes what `from` no longer has (the
/// Makefile compiles every src/*/*.c it finds).
fn mirror(from: &Path, to: &Path) -> io::Result<()> {
    if from.is_dir() {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(to)? {
            let entry = entry?;
            if !from.join(entry.file_name()).exists() {
                if entry.file_type()?.is_dir() {
                    fs::remove_dir_all(entry.path())?;
                } else {
                    fs::remove_file(entry.path())?;
                }
            }
        }
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            mirror(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    let bytes = fs::read(from)?;
    if fs::read(to).ok().as_deref() != Some(&bytes[..]) {
        fs::write(to, &bytes)?;
    }
    Ok(())
}
