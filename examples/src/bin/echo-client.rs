//! The seed README's echo client: sends each line of standard input and prints each reply as
//! `Response from server: <reply>`. After sending `QUIT` or `SRVQUIT`, or at the end of input,
//! it closes and exits 0. A server that does not answer within `--timeout` (10 s) is an error
//! (exit 1).
//!
//! ```text
//! printf 'hello\nQUIT\n' | cargo run -p tinyproto-examples --bin echo-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::io::BufRead;
use std::process::ExitCode;
use tinyproto_cli::opts::TimeoutOpt;
use tinyproto_cli::{exchange, Error, HostPort};
use tinyproto_std::TcpConnection;

#[derive(Parser)]
#[command(about = "tinyproto echo client (the seed README's example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: HostPort,
    #[command(flatten)]
    timeout: TimeoutOpt,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let limit = args.timeout.timeout;
    let addr = &args.connect;
    let mut conn = TcpConnection::builder()
        .timeouts(args.timeout.timeouts())
        .connect(&addr.resolve()?[..])
        .map_err(|e| Error::connecting(addr, e))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(Error::reading_stdin)?;
        exchange::send(&mut conn, addr, line.clone().into_bytes(), || {
            format!("sending {line:?}")
        })?;
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        let reply = exchange::receive(&mut conn, addr, limit, || {
            format!("waiting for the reply to {line:?}")
        })?;
        println!("Response from server: {}", String::from_utf8_lossy(&reply));
    }
    Ok(())
}
