//! The upstream chat server on tokio (`tinyproto-tokio`): every line a client sends goes to
//! every other client as `[<conn id>] <line>`; joins and leaves are announced as
//! `**joined the chat` and `**left the chat`.
//!
//! Each connection is split: its receiving half publishes what arrives on a broadcast channel,
//! its sending half pushes what the others said, at the same time. A line is shared by every
//! connection's send (one `Bytes`, no copy per client).
//!
//! ```text
//! cargo run -p tinyproto-examples --bin tokio-chat-server -- --listen 127.0.0.1:9123
//! ```

use bytes::Bytes;
use clap::Parser;
use std::process::ExitCode;
use tinyproto_tokio::{Connection, Listener, Received};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

#[derive(Parser)]
#[command(about = "tinyproto chat server on tokio (the upstream example)")]
struct Args {
    /// Address to listen on (host:port); repeat for several. Port 0 picks one.
    #[arg(long = "listen", default_value = "127.0.0.1:9123")]
    listen: Vec<String>,
}

/// A line said by connection `.0`.
type Said = (u64, Bytes);

/// Lines kept for a slow client before it misses some.
const BACKLOG: usize = 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let builder = args
        .listen
        .iter()
        .fold(Listener::builder(), |b, addr| b.listen(addr.as_str()));
    let mut listener = match builder.bind().await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("tokio-chat-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in listener.local_addrs() {
        println!("LISTENING {addr}");
    }
    let (room, _) = broadcast::channel::<Said>(BACKLOG);
    let mut next_id = 0;
    while let Some(conn) = listener.accept().await {
        next_id += 1;
        tokio::spawn(chatter(conn, next_id, room.clone()));
    }
    ExitCode::SUCCESS
}

/// Says `line` to everybody else.
fn relay(room: &broadcast::Sender<Said>, from: u64, line: &[u8]) {
    let text = [format!("[{from}] ").as_bytes(), line].concat();
    // No receiver (nobody else in the room) is fine.
    let _ = room.send((from, Bytes::from(text)));
}

async fn chatter(conn: Connection<TcpStream>, id: u64, room: broadcast::Sender<Said>) {
    let peer = conn
        .peer_addr()
        .map_or_else(|e| e.to_string(), |a| a.to_string());
    let mut heard = room.subscribe();
    println!("[INFO] New connection opened from {peer}");
    relay(&room, id, b"**joined the chat");
    let (mut tx, mut rx) = conn.into_split();
    let pusher = tokio::spawn(async move {
        loop {
            match heard.recv().await {
                Ok((from, _)) if from == id => {}
                Ok((_, line)) => {
                    if tx.send(line).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("[WARN] connection {id} missed {n} lines");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    loop {
        match rx.recv().await {
            Ok(Some(Received::Message(line))) => relay(&room, id, &line),
            Ok(Some(other)) => eprintln!("[WARN] connection {id}: {other:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    pusher.abort();
    println!("[INFO] Connection closed from {peer}");
    relay(&room, id, b"**left the chat");
}
