//! The upstream chat client: prints every message from the server, sends each line of
//! standard input; `quit` (or the end of input) leaves.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin chat-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::io::BufRead;
use std::process::ExitCode;
use tinyproto_std::{Client, Conn, Handler};

#[derive(Parser)]
#[command(about = "tinyproto chat client (the upstream example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: String,
}

/// Prints what the others say.
struct Printer;

impl Handler for Printer {
    fn transmission_received(&mut self, _: &mut Conn, msg: Vec<u8>) {
        println!("{}", String::from_utf8_lossy(&msg));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.connect) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().build(|_| Printer)?;
    let conn = client.connect(addr)?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line == "quit" {
            break;
        }
        conn.transmit(line.as_bytes())?;
    }
    conn.close();
    Ok(())
}
