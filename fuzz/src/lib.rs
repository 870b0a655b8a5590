//! Fuzz targets of the tinyproto core (run by `cargo fuzz`, see `fuzz/README.md`). Each target
//! is a `check` function here, so a finding can be replayed as a regression test in
//! `tests/regressions.rs`.
//!
//! The fuzzer's bytes are read as decisions ([`input::Input`]): lengths, read and write chunk
//! sizes, when a send starts, which plugins, which bytes are corrupted.

pub mod input;
pub mod pipe;
pub mod plugins;
pub mod replay;
pub mod session;
