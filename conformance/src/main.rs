//! `tinyproto-conformance`: the development tool of this crate. It serves the reference echo
//! server and runs the reference echo client (both on our core, independent of
//! `tinyproto-std`). The live interop matrix against the Python package is a test:
//! `cargo test -p tinyproto-conformance --test live -- interop_matrix --nocapture`.
//!
//! Checking a server or a client is `tinyproto check` (the `tinyproto-cli` crate), which runs
//! this crate's [`runner`](tinyproto_conformance::runner).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;
use tinyproto_conformance::net::{self, EchoConfig, EchoServer};

/// Reference peers on the tinyproto core (to check a server or a client, use `tinyproto check`).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The seed README's echo client on our core: sends each stdin line, prints
    /// `Response from server: <reply>`, closes at the end of input.
    EchoClient {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:9123")]
        connect: String,
        /// Plugins, in registration order (xor5a, bang).
        #[arg(long = "plugin")]
        plugins: Vec<String>,
        /// Seconds to wait for the server at any step.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Serve the seed README's echo server on our core (thread per connection).
    /// Prints `LISTENING <addr>` once listening; SRVQUIT stops it.
    ServeEcho {
        /// Address to listen on (port 0: any).
        #[arg(long, default_value = "127.0.0.1:9123")]
        listen: String,
        /// Largest message accepted, in bytes (default: the protocol maximum; memory follows
        /// the bytes that really arrive).
        #[arg(long)]
        max_len: Option<u32>,
        /// Connection limit (beyond it: one byte fe, then close).
        #[arg(long)]
        limit: Option<usize>,
        /// Plugins, in registration order (xor5a, bang).
        #[arg(long = "plugin")]
        plugins: Vec<String>,
        /// Seconds after which a peer stalled in the handshake, a header or a payload is
        /// dropped.
        #[arg(long, default_value_t = 5)]
        stall: u64,
        /// Seconds after which a peer that sends nothing between messages is dropped (0:
        /// never, as in Python). Default: the stall limit.
        #[arg(long)]
        idle: Option<u64>,
    },
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tinyproto-conformance: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<bool, String> {
    match cmd {
        Cmd::EchoClient {
            connect,
            plugins,
            timeout,
        } => {
            let limit = Duration::from_secs(timeout);
            let stdin = std::io::stdin().lock();
            net::echo_client(
                resolve(&connect)?,
                &plugins,
                limit,
                stdin,
                std::io::stdout(),
            )
            .map_err(|e| e.to_string())?;
            Ok(true)
        }
        Cmd::ServeEcho {
            listen,
            max_len,
            limit,
            plugins,
            stall,
            idle,
        } => {
            let defaults = EchoConfig::default();
            let config = EchoConfig {
                max_len: max_len.unwrap_or(defaults.max_len),
                plugins,
                limit,
                stall: Duration::from_secs(stall),
                idle: match idle.unwrap_or(stall) {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            };
            let addr = resolve(&listen)?;
            let server = EchoServer::spawn(addr, config)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            println!("LISTENING {}", server.addr());
            server.join();
            Ok(true)
        }
    }
}
