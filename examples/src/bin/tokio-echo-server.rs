//! The seed README's echo server on tokio (`tinyproto-tokio`): answers each message with
//! `Echo back: ` + message; `QUIT` closes that connection, `SRVQUIT` shuts the server down
//! gracefully (every connection's task sees the cancelled token; the process then exits 0).
//!
//! Prints `LISTENING <addr>` for each listener, then one line per connection opened and closed.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin tokio-echo-server -- --listen 127.0.0.1:9123 --listen [::1]:9123
//! ```

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;
use tinyproto_tokio::{Connection, Listener, Received, Sent};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "tinyproto echo server on tokio (the seed README's example)")]
struct Args {
    /// Address to listen on (host:port); repeat for several. Port 0 picks one.
    #[arg(long = "listen", default_value = "127.0.0.1:9123")]
    listen: Vec<String>,
    /// Most connections at once; one more is answered 0xfe and closed.
    #[arg(long)]
    max_connections: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = args
        .listen
        .iter()
        .fold(Listener::builder(), |b, addr| b.listen(addr.as_str()));
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    let mut listener = match builder.bind().await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("tokio-echo-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in listener.local_addrs() {
        println!("LISTENING {addr}");
    }
    let stop = listener.shutdown_token();
    let mut connections = JoinSet::new();
    while let Some(conn) = listener.accept().await {
        let Ok(peer) = conn.peer_addr() else { continue };
        println!("Connection opened from: {peer}");
        connections.spawn(serve(conn, peer, stop.clone()));
        while connections.try_join_next().is_some() {}
    }
    // Graceful: every connection's task has seen the token and ends after its message.
    while connections.join_next().await.is_some() {}
    println!("SERVER STOPPED");
    ExitCode::SUCCESS
}

/// Echoes until the peer leaves, sends `QUIT` or `SRVQUIT`, or the server stops.
async fn serve(mut conn: Connection<TcpStream>, peer: SocketAddr, stop: CancellationToken) {
    let why = loop {
        // `recv` is cancel safe: a message half read when the server stops is not an issue.
        let received = tokio::select! {
            _ = stop.cancelled() => break "server shut down".to_string(),
            received = conn.recv() => received,
        };
        let msg = match received {
            Ok(Some(Received::Message(msg))) => msg,
            Ok(Some(other)) => {
                // Refused (too large) or discarded by a plugin: the connection goes on.
                eprintln!("{peer}: {other:?}");
                continue;
            }
            Ok(None) => break "closed by peer".into(),
            Err(e) => break e.to_string(),
        };
        match &msg[..] {
            b"QUIT" => break "QUIT".into(),
            b"SRVQUIT" => {
                stop.cancel();
                break "SRVQUIT".into();
            }
            _ => match conn.send([&b"Echo back: "[..], &msg].concat()).await {
                Ok(Sent::Written) => {}
                Ok(Sent::Rejected { len }) => eprintln!("{peer}: echo of {len} B refused"),
                Err(tinyproto_tokio::TransmitError::Send(e)) => eprintln!("{peer}: {e}"),
                Err(e) => break e.to_string(),
            },
        }
    };
    println!("Connection closed from: {peer} ({why})");
}
