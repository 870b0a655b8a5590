//! The upstream chat client on tokio (`tinyproto-tokio`): prints every message from the
//! server while it sends each line of standard input; `quit` (or the end of input) leaves.
//!
//! The connection is split: one task receives and prints, the main task sends.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin tokio-chat-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::process::ExitCode;
use tinyproto_tokio::{Received, Sent};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "tinyproto chat client on tokio (the upstream example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.connect).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio-chat-client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (mut tx, mut rx) = tinyproto_tokio::connect(addr).await?.into_split();
    let printer = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Some(Received::Message(msg))) => println!("{}", String::from_utf8_lossy(&msg)),
                Ok(Some(other)) => eprintln!("tokio-chat-client: {other:?}"),
                Ok(None) | Err(_) => break,
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line == "quit" {
            break;
        }
        if let Sent::Rejected { len } = tx.send(line).await? {
            eprintln!("tokio-chat-client: the server refused a line of {len} bytes");
        }
    }
    printer.abort();
    Ok(())
}
