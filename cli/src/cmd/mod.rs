//! The commands: each has its flags (`Args`) and a `run` that says whether everything went
//! well (`Ok(false)`: the command ran, but what it checked failed; exit 1).

pub mod bench;
pub mod check;
pub mod echo;
pub mod listen;
pub mod send;

use crate::error::Error;

/// One command of the tool.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect, send each FILE (or standard input) as a message, print or save the replies.
    Send(send::Args),
    /// Accept connections and print or save every message; optionally answer each.
    Listen(listen::Args),
    /// The seed's echo server: each message m is answered `Echo back: ` + m; `QUIT` closes
    /// the connection, `SRVQUIT` stops the server.
    Echo(echo::Args),
    /// Check a server (or, with --client, a client) against the conformance suite; exit 1
    /// if a case fails.
    Check(check::Args),
    /// Measure lockstep latency (p50, p99, max) and throughput of a server that answers every
    /// message (such as `tinyproto echo`).
    Bench(bench::Args),
}

impl Command {
    /// Runs the command: `Ok(true)` when it succeeded, `Ok(false)` when what it checked
    /// failed.
    ///
    /// # Errors
    /// When it could not do its job (no connection, no listener, unreadable file, …).
    pub fn run(self) -> Result<bool, Error> {
        match self {
            Command::Send(args) => send::run(args),
            Command::Listen(args) => listen::run(args),
            Command::Echo(args) => echo::run(args),
            Command::Check(args) => check::run(args),
            Command::Bench(args) => bench::run(args),
        }
    }
}
