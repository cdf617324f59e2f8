// SPDX-License-Identifier: MIT
//! The Rust benchmark: a Vec/HashMap/String workload (examples/workload)
//! under `Cairn` and under `std::alloc::System`, each in a process of its
//! own, alternating, and the median times and peak RSS side by side with
//! their ratio (cairn / system: below 1 is cairn faster or smaller).
//!
//!     cargo build --release --offline --examples
//!     target/release/examples/bench [--rounds N] [--scale N]
//!
//! `--once` runs the workload one time in this process (on cairn), which is
//! what each round does; `bench_system` is the same on the system allocator.

use std::process::Command;

use cairn::Cairn;

mod workload;

#[global_allocator]
static GLOBAL: Cairn = Cairn;

/// One run's figures: each phase's nanoseconds and checksum, the peak RSS.
struct Run {
    phases: Vec<(String, u64, u64)>,
    peak_rss_kib: u64,
}

fn parse(out: &str) -> Option<Run> {
    let mut run = Run {
        phases: Vec::new(),
        peak_rss_kib: 0,
    };
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["phase", name, ns, sum] => {
                run.phases
                    .push((name.to_string(), ns.parse().ok()?, sum.parse().ok()?))
            }
            ["peak_rss_kib", kib] => run.peak_rss_kib = kib.parse().ok()?,
            _ => return None,
        }
    }
    if run.phases.is_empty() {
        None
    } else {
        Some(run)
    }
}

fn run_child(exe: &std::path::Path, args: &[String]) -> Run {
    let out = Command::new(exe).args(args).output().unwrap_or_else(|e| {
        eprintln!("bench: cannot run {}: {}", exe.display(), e);
        std::process::exit(1);
    });
    let text = String::from_utf8_lossy(&out.stdout);
    match parse(&text) {
        Some(r) if out.status.success() => r,
        _ => {
            eprintln!("bench: {} failed ({}): {}", exe.display(), out.status, text);
            std::process::exit(1);
        }
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn arg_value(args: &[String], name: &str, default: u64) -> u64 {
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => match args.get(i + 1).and_then(|s| s.parse().ok()) {
            Some(n) if n >= 1 => n,
            _ => {
                eprintln!("bench: {} wants a whole number, 1 or more", name);
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--once") {
        workload::run(workload::scale_arg());
        return;
    }
    let rounds = arg_value(&args, "--rounds", 5) as usize;
    let scale = arg_value(&args, "--scale", 1);
    let me = std::env::current_exe().expect("current_exe");
    let system = me.with_file_name("bench_system");
    if !system.is_file() {
        eprintln!(
            "bench: {} is missing: build both with `cargo build --release --offline --examples`",
            system.display()
        );
        std::process::exit(1);
    }
    let child_args = vec![
        "--once".to_string(),
        "--scale".to_string(),
        scale.to_string(),
    ];
    let mut cairn_runs = Vec::new();
    let mut system_runs = Vec::new();
    for _ in 0..rounds {
        cairn_runs.push(run_child(&me, &child_args));
        system_runs.push(run_child(&system, &child_args[1..]));
    }
    let sums = |r: &Run| r.phases.iter().map(|p| p.2).collect::<Vec<_>>();
    if cairn_runs
        .iter()
        .chain(system_runs.iter())
        .any(|r| sums(r) != sums(&cairn_runs[0]))
    {
        eprintln!("bench: the runs' checksums differ: the workload is not the same");
        std::process::exit(1);
    }

    println!(
        "{} rounds, scale {}, medians (cairn / system: below 1 is better)",
        rounds, scale
    );
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "phase", "cairn ms", "system ms", "ratio"
    );
    let row = |name: &str, c: u64, s: u64| {
        println!(
            "{:<12} {:>12.1} {:>12.1} {:>8.3}",
            name,
            c as f64 / 1e6,
            s as f64 / 1e6,
            c as f64 / s as f64
        );
    };
    let nphases = cairn_runs[0].phases.len();
    for i in 0..nphases {
        let c = median(cairn_runs.iter().map(|r| r.phases[i].1).collect());
        let s = median(system_runs.iter().map(|r| r.phases[i].1).collect());
        row(&cairn_runs[0].phases[i].0, c, s);
    }
    let total = |r: &Run| r.phases.iter().map(|p| p.1).sum::<u64>();
    row(
        "total",
        median(cairn_runs.iter().map(total).collect()),
        median(system_runs.iter().map(total).collect()),
    );
    let c = median(cairn_runs.iter().map(|r| r.peak_rss_kib).collect());
    let s = median(system_runs.iter().map(|r| r.peak_rss_kib).collect());
    println!(
        "{:<12} {:>12} {:>12} {:>8.3}",
        "peak RSS KiB",
        c,
        s,
        c as f64 / s as f64
    );
}
