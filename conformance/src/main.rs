//! `tinyproto-conformance`: run the conformance suite against a server, serve the reference
//! echo server, or print the interop matrix.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tinyproto_conformance::net::{self, EchoConfig, EchoServer};
use tinyproto_conformance::{matrix, runner};

/// Conformance suite for the tinyproto wire protocol.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the case suite against a server with the seed README's echo semantics
    /// (each message m answered b"Echo back: " + m; QUIT closes the connection).
    /// Exits 0 only when no case failed.
    Server {
        /// Address of the server under test.
        addr: String,
        /// Add the strict tier: clean EOF handling, sync after a refusal, timeouts.
        #[arg(long)]
        strict: bool,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The server's connection limit, if it has one (enables the conlimit cases).
        #[arg(long)]
        conlimit: Option<usize>,
        /// Seconds to wait for any single answer.
        #[arg(long, default_value_t = 5)]
        patience: u64,
        /// Seconds within which a stalled peer must be dropped (strict tier).
        #[arg(long, default_value_t = 10)]
        stall_limit: u64,
    },
    /// Run the client suite: start COMMAND once per case (`{port}` in an argument is replaced by
    /// the runner's port; its input is `hello\n`), play a scripted server for it and check what
    /// it does. The client must have the seed README's echo-client semantics. Exits 0 only when
    /// no case failed.
    Client {
        /// The client's command line, after `--`.
        #[arg(required = true, last = true)]
        command: Vec<String>,
        /// Add the strict tier: clean EOF handling, connection limit, timeouts.
        #[arg(long)]
        strict: bool,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Address the runner listens on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Seconds to wait for any single action of the client.
        #[arg(long, default_value_t = 5)]
        patience: u64,
        /// Seconds within which the client must give up on a stalled server (strict tier).
        #[arg(long, default_value_t = 10)]
        stall_limit: u64,
    },
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
    /// Run the live interop matrix (needs the Python venvs: `bash .ci/setup-python`) and print
    /// it as a markdown table. Exits 0 only when every cell passed.
    Matrix,
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

/// Prints the table, writes the JSON if asked, and tells whether nothing failed.
fn finish(report: &runner::Report, title: &str, json: Option<PathBuf>) -> Result<bool, String> {
    println!("{}", report.table(title));
    if let Some(path) = json {
        std::fs::write(&path, report.json()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report.passed())
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tinyproto-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd) -> Result<bool, String> {
    match cmd {
        Cmd::Server {
            addr,
            strict,
            json,
            conlimit,
            patience,
            stall_limit,
        } => {
            let target = runner::Target {
                addr: resolve(&addr)?,
                command: Vec::new(),
                patience: Duration::from_secs(patience),
                stall_limit: Duration::from_secs(stall_limit),
                conlimit,
            };
            finish(
                &runner::run(&target, strict),
                "tinyproto conformance: server",
                json,
            )
        }
        Cmd::Client {
            command,
            strict,
            json,
            listen,
            patience,
            stall_limit,
        } => {
            let target = runner::Target {
                addr: resolve(&listen)?,
                command,
                patience: Duration::from_secs(patience),
                stall_limit: Duration::from_secs(stall_limit),
                conlimit: None,
            };
            finish(
                &runner::run_client(&target, strict),
                "tinyproto conformance: client",
                json,
            )
        }
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
            let server = EchoServer::spawn(resolve(&listen)?, config).map_err(|e| e.to_string())?;
            println!("LISTENING {}", server.addr());
            server.join();
            Ok(true)
        }
        Cmd::Matrix => {
            let (table, ok) = matrix::run(&[matrix::CORE]);
            println!("{table}");
            Ok(ok)
        }
    }
}
