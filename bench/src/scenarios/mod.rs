//! The scenarios. Each alternates the contenders round-robin within every repetition and
//! starts a fresh server process for every run.

pub mod bulk;
pub mod concurrency;
pub mod core_mem;
pub mod cpu;
pub mod echo;
pub mod profile;
pub mod soak;

use crate::contenders::{Contender, Send};

/// Every (contender, way of sending) pair, in the order runs alternate.
pub fn variants(contenders: &[Contender]) -> Vec<(Contender, Send)> {
    contenders
        .iter()
        .flat_map(|&c| c.sends().iter().map(move |&s| (c, s)))
        .collect()
}

/// Human-readable size.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Progress on stderr, so a long run shows where it is.
pub fn progress(what: &str) {
    eprintln!("[bench] {what}");
}
