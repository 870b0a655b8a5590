//! `tinyproto`: send, listen, echo, check and bench over the tinyproto wire protocol.
//!
//! Exit codes: 0 everything went well; 1 a failure (no connection, no listener, a reply that
//! did not come, a conformance case that failed); 2 a usage error (unknown flag, malformed
//! address).
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;
use tinyproto_cli::cmd::Command;

/// Talk tinyproto from a shell: what nc is for TCP.
#[derive(Parser)]
#[command(
    name = "tinyproto",
    version,
    after_help = "Exit codes: 0 ok, 1 failure (network, files, a failed check), 2 usage error."
)]
struct Cli {
    /// More messages on stderr: -v what the tool does, -vv more, -vvv the protocol's every
    /// step.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tinyproto_cli::logger::init(cli.verbose);
    match cli.command.run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tinyproto: {e}");
            ExitCode::FAILURE
        }
    }
}
