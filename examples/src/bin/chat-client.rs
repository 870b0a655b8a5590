//! The upstream chat client: prints every message from the server, sends each line of
//! standard input; `quit` (or the end of input) leaves.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin chat-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::io::BufRead;
use std::process::ExitCode;
use tinyproto_cli::{Error, HostPort};
use tinyproto_std::{Client, Conn, Handler};

#[derive(Parser)]
#[command(about = "tinyproto chat client (the upstream example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: HostPort,
}

/// Prints what the others say.
struct Printer;

impl Handler for Printer {
    fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
        println!("{}", String::from_utf8_lossy(&msg));
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let addr = &args.connect;
    let connect_failed = |e| Error::connecting(addr, e);
    let client = Client::builder()
        .build(|_| Printer)
        .map_err(connect_failed)?;
    let conn = client
        .connect(&addr.resolve()?[..])
        .map_err(connect_failed)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(Error::reading_stdin)?;
        if line == "quit" {
            break;
        }
        conn.transmit(line.as_bytes()).map_err(|e| Error::Send {
            addr: addr.to_string(),
            source: e,
        })?;
    }
    conn.close();
    Ok(())
}
