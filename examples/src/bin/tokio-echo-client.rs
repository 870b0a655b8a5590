//! The seed README's echo client on tokio (`tinyproto-tokio`): sends each line of standard
//! input and prints each reply as `Response from server: <reply>`. After sending `QUIT` or
//! `SRVQUIT`, or at the end of input, it closes and exits 0.
//!
//! ```text
//! printf 'hello\nQUIT\n' | cargo run -p tinyproto-examples --bin tokio-echo-client -- --connect 127.0.0.1:9123
//! ```

use clap::Parser;
use std::process::ExitCode;
use tinyproto_tokio::{Received, Sent};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "tinyproto echo client on tokio (the seed README's example)")]
struct Args {
    /// Server to connect to (host:port; host names are resolved, IPv6 as [::1]:port).
    #[arg(long, default_value = "127.0.0.1:9123")]
    connect: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.connect).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio-echo-client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = tinyproto_tokio::connect(addr).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if let Sent::Rejected { len } = conn.send(line.clone()).await? {
            return Err(format!("the server refused a message of {len} bytes").into());
        }
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        let reply = match conn.recv().await? {
            Some(Received::Message(reply)) => reply,
            Some(other) => return Err(format!("no reply: {other:?}").into()),
            None => return Err("the server closed the connection".into()),
        };
        println!("Response from server: {}", String::from_utf8_lossy(&reply));
    }
    conn.close().await?;
    Ok(())
}
