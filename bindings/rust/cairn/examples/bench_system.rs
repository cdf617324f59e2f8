// SPDX-License-Identifier: MIT
//! The Rust benchmark's workload on the system allocator (glibc's malloc),
//! the baseline that `bench` compares `Cairn` with. Run `bench`, which runs
//! this one too.

use std::alloc::System;

mod workload;

#[global_allocator]
static GLOBAL: System = System;

fn main() {
    workload::run(workload::scale_arg());
}
