//! The `tinyproto` command-line tool, and the pieces it is made of.
//!
//! `tinyproto` is to the tinyproto wire protocol what `nc`, `websocat` and `grpcurl` are to
//! theirs: [`send`](cmd::send) messages and print the replies, [`listen`](cmd::listen) and
//! print what arrives, run the seed's [`echo`](cmd::echo) server, [`check`](cmd::check) a
//! server or client against the conformance suite, and [`bench`](cmd::bench) a server. The
//! crate README has the commands, their flags and the exit codes.
//!
//! The library is what the binary is built from, and what the example programs of this
//! repository share for their addresses and error messages:
//! * [`addr`]: `HOST:PORT` arguments, checked when parsed and resolved with a clear error;
//! * [`error`]: [`Error`], every failure of the tool, naming the address and the phase
//!   (`cannot listen on 127.0.0.1:9123: address already in use`);
//! * [`exchange`]: one message out, one in, with errors that say which;
//! * [`opts`]: the flags every command shares (`--timeout`, `--max-size`, `--plugin`);
//! * [`output`]: how received messages are printed or saved (`--hex`, `--json`, `--out`);
//! * [`logger`]: `-v`, messages on stderr.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod addr;
pub mod cmd;
pub mod error;
pub mod exchange;
pub mod logger;
pub mod opts;
pub mod output;

pub use addr::HostPort;
pub use error::Error;
