//! Conformance suite for tinyproto: proves wire compatibility with the real Python package and
//! checks any implementation from the outside.
//!
//! * [`transcript`]: conversations recorded between real Python peers (2.0.1 and 3.0), with
//!   what each side wrote and received. The replay tests (`tests/replay.rs`) play the Python
//!   side of each on our core and compare byte for byte.
//! * [`replay`]: our core in the place of one recorded side, at any read size, either driver.
//! * [`role`]: the scripts of those Python peers (lockstep client, echo server), played on
//!   any of our drivers through the [`role::Link`] trait.
//! * [`runner`]: the case suite that `tinyproto check HOST:PORT` (`tinyproto-cli`) runs against a
//!   server with the seed README's echo semantics, and its table.
//! * the live interop matrix, Rust ↔ Python 2.0.1 / 3.0 / Rust in both roles, is a test of this
//!   crate (`tests/live.rs`, `tests/matrix/`): it needs the Python venvs of the repository.
//! * [`net`]: the core over `std::net::TcpStream`, and `serve-echo`, an echo server on the
//!   core (independent of `tinyproto-std`).
//!
//! See the crate README for the deliberate differences from Python and how to re-record.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod net;
pub mod plugins;
pub mod pyrandom;
pub mod replay;
pub mod role;
pub mod runner;
pub mod transcript;
