//! `tinyproto check HOST:PORT`: the conformance suite against a server with the seed README's
//! echo semantics, or (`--client -- COMMAND…`) against a client with its echo-client
//! semantics.

use crate::addr::HostPort;
use crate::error::Error;
use crate::opts::{parse_secs, TimeoutOpt};
use std::time::Duration;
use tinyproto_conformance::runner::{self, Target, CASES, CLIENT_CASES, DEFAULT_STALL_LIMIT};

/// Flags of `check`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The server to check.
    #[arg(value_name = "HOST:PORT", required_unless_present = "client")]
    pub addr: Option<HostPort>,
    /// Check a client instead: the runner listens, starts COMMAND once per case (`{port}` in
    /// an argument becomes the runner's port; its input is `hello\n`) and plays a scripted
    /// server for it.
    #[arg(long, conflicts_with = "addr", requires = "command")]
    pub client: bool,
    /// Client mode: where the runner listens (port 0: any).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: HostPort,
    /// Client mode: the client's command line, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Add the strict tier: clean end-of-stream handling, sync after a refusal, timeouts.
    #[arg(long)]
    pub strict: bool,
    /// The server's connection limit, if it has one (adds the connection-limit cases).
    #[arg(long, value_name = "N")]
    pub conlimit: Option<usize>,
    /// Seconds within which the peer must drop a stalled connection (strict tier): set it to
    /// the peer's own stall timeout. Default: 30, the stall timeout of tinyproto-std (and so
    /// of `echo-server`; `tinyproto echo` uses its --timeout, 10 by default).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub stall_limit: Option<Duration>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub timeout: TimeoutOpt,
}

/// Runs `check`: `Ok(false)` when a case failed.
///
/// # Errors
/// When the run could not go on: the server cannot be reached, the runner cannot listen or
/// start the client.
pub fn run(args: Args) -> Result<bool, Error> {
    let (cases, title, addr) = match &args.addr {
        Some(addr) => (CASES, "tinyproto check: server", addr),
        None => (CLIENT_CASES, "tinyproto check: client", &args.listen),
    };
    let target = Target {
        addr: addr.resolve()?[0],
        command: args.command.clone(),
        patience: args.timeout.timeout,
        stall_limit: args.stall_limit.unwrap_or(DEFAULT_STALL_LIMIT),
        conlimit: args.conlimit,
    };
    let report = runner::run_with(cases, &target, args.strict, |case| {
        log::info!("{}: {}", case.id, case.requirement);
    })
    .map_err(Error::from_run)?;
    if args.json {
        println!("{}", report.json());
    } else {
        println!("{}", report.table(title));
    }
    Ok(report.passed())
}
