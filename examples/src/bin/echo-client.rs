//! The seed README's echo client: sends each line of standard input and prints each reply as
//! `Response from server: <reply>`. After sending `QUIT` or `SRVQUIT`, or at the end of input,
//! it closes and exits 0.
//!
//! ```text
//! printf 'hello\nQUIT\n' | cargo run -p tinyproto-examples --bin echo-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::io::BufRead;
use std::process::ExitCode;
use tinyproto_std::{Received, Sent, TcpConnection};

#[derive(Parser)]
#[command(about = "tinyproto echo client (the seed README's example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.connect) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = TcpConnection::connect(addr)?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let sent = conn.transmit(line.as_bytes())?;
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        if let Sent::Rejected { len } = sent {
            println!("The server refused our line of {len} bytes as too large");
            continue;
        }
        match conn.receive()? {
            Received::Message(reply) => {
                println!("Response from server: {}", String::from_utf8_lossy(&reply))
            }
            Received::Refused { len, limit } => {
                println!("Refused a reply of {len} bytes (limit {limit})")
            }
            Received::Discarded(e) => println!("Discarded a reply: {e}"),
        }
    }
    Ok(())
}
