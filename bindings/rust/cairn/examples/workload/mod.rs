// SPDX-License-Identifier: MIT
//! The Rust benchmark's workload, shared by `bench` (on `Cairn`) and
//! `bench_system` (on `std::alloc::System`): what a Rust service's
//! allocations look like, from std's collections. Each phase prints
//! `phase NAME NANOSECONDS CHECKSUM` (the checksum, the same under every
//! allocator, keeps the work from being optimised away and shows both
//! binaries did the same); the run ends with `peak_rss_kib N`.
//!
//! The sizes and the seed are fixed, so both binaries do the same work.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

/// xorshift64*: the same sequence in every run and binary.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A map of string keys to growing vectors, half of it removed and
/// refilled, then read back.
fn hashmap_of_vecs(scale: u64) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut map: HashMap<String, Vec<u64>> = HashMap::new();
    let keys = 50_000 * scale;
    for i in 0..keys * 4 {
        let k = rng.below(keys);
        map.entry(format!("user:{}:session", k))
            .or_default()
            .push(i);
    }
    map.retain(|k, _| k.len() % 2 == 0);
    for i in 0..keys * 2 {
        let k = rng.below(keys);
        map.entry(format!("user:{}:session", k))
            .or_default()
            .push(i);
    }
    map.values()
        .map(|v| v.iter().sum::<u64>())
        .fold(0, u64::wrapping_add)
}

/// Text: lines built with format!, split into words, counted in a
/// BTreeMap, joined again.
fn strings(scale: u64) -> u64 {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut total = 0u64;
    for _ in 0..20 * scale {
        let mut text = String::new();
        for l in 0..2_000 {
            let words = 3 + rng.below(12);
            let mut line = String::new();
            for w in 0..words {
                line.push_str(&format!("w{}x{} ", rng.below(500), w));
            }
            line.push_str(&l.to_string());
            text.push_str(&line);
            text.push('\n');
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for word in text.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
        let mut words: Vec<String> = counts.keys().map(|s| s.to_uppercase()).collect();
        words.sort_unstable();
        total += words.join(",").len() as u64;
    }
    total
}

/// A ring of byte vectors, 16 bytes to 64 KiB (mostly small), replaced at
/// random and grown by push, as buffers in flight are.
fn vec_churn(scale: u64) -> u64 {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut ring: Vec<Vec<u8>> = (0..4096).map(|_| Vec::new()).collect();
    let mut total = 0u64;
    for _ in 0..400_000 * scale {
        let slot = rng.below(ring.len() as u64) as usize;
        let size = match rng.below(100) {
            0..=79 => 16 + rng.below(240),
            80..=97 => 256 + rng.below(3840),
            _ => 4096 + rng.below(61_440),
        } as usize;
        let mut v = Vec::with_capacity(size / 2);
        v.resize(size, slot as u8);
        v.push(1);
        total += v.len() as u64;
        ring[slot] = v;
    }
    total + ring.iter().map(|v| v.len() as u64).sum::<u64>()
}

/// Four threads make strings and send them to a fifth, which frees them:
/// every block is freed by a thread that did not allocate it.
fn threads_handing_off(scale: u64) -> u64 {
    let (tx, rx) = mpsc::sync_channel::<Vec<String>>(64);
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut rng = Rng(0x5151_5151 + t);
                for _ in 0..500 * scale {
                    let batch: Vec<String> = (0..100)
                        .map(|i| "x".repeat(8 + rng.below(200) as usize) + &i.to_string())
                        .collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = thread::spawn(move || {
        let mut n = 0u64;
        for batch in rx {
            n += batch.iter().map(|s| s.len() as u64).sum::<u64>();
        }
        n
    });
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap()
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A phase: its name, and the work at a scale, returning a checksum.
type Phase = (&'static str, fn(u64) -> u64);

/// Runs every phase once at `scale` and prints the times.
pub fn run(scale: u64) {
    let phases: [Phase; 4] = [
        ("hashmap", hashmap_of_vecs),
        ("strings", strings),
        ("vec_churn", vec_churn),
        ("threads", threads_handing_off),
    ];
    for (name, f) in phases.iter() {
        let start = Instant::now();
        let sum = f(scale);
        println!("phase {} {} {}", name, start.elapsed().as_nanos(), sum);
    }
    println!("peak_rss_kib {}", peak_rss_kib());
}

/// The scale from `--scale N` (default 1).
pub fn scale_arg() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--scale") {
        Some(i) => match args.get(i + 1).and_then(|s| s.parse().ok()) {
            Some(n) if n >= 1 => n,
            _ => {
                eprintln!("bench: --scale wants a whole number, 1 or more");
                std::process::exit(2);
            }
        },
        None => 1,
    }
}
