//! The upstream chat server: every line a client sends goes to every other client as
//! `[<conn id>] <line>`; joins and leaves are announced as `**joined the chat` and
//! `**left the chat`.
//!
//! Upstream keeps an inbox and an outbox per connection and moves lines in the server's
//! `loop_pass`; here a connection's hook relays its line at once through the server handle
//! (no polling tick on the data path).
//!
//! ```text
//! cargo run -p tinyproto-examples --bin chat-server -- --listen 127.0.0.1:9123
//! ```

use clap::Parser;
use std::process::ExitCode;
use tinyproto_cli::{Error, HostPort};
use tinyproto_std::{
    CloseReason, Conn, ConnSerial, ConnectionHandle, Handler, Server, ServerHandle, ServerHooks,
};

#[derive(Parser)]
#[command(about = "tinyproto chat server (the upstream example)")]
struct Args {
    /// Address to listen on (host:port); repeat for several. Port 0 picks one.
    #[arg(long = "listen", default_value = "127.0.0.1:9123")]
    listen: Vec<HostPort>,
}

/// Relays `line` from `from` to everybody else.
fn relay(server: &ServerHandle, from: ConnSerial, line: &str) {
    server.broadcast_except(from, format!("[{from}] {line}").as_bytes());
}

/// One chatter: each message is a line for the others.
struct Chatter {
    server: ServerHandle,
}

impl Handler for Chatter {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        relay(&self.server, conn.id(), &String::from_utf8_lossy(&msg));
    }
}

/// Announces joins and leaves.
struct Lobby;

impl ServerHooks for Lobby {
    fn pre_loop(&mut self, server: &ServerHandle) {
        for addr in server.local_addrs() {
            println!("LISTENING {addr}");
        }
    }

    fn conn_init(&mut self, server: &ServerHandle, conn: &ConnectionHandle) {
        println!("[INFO] New connection opened from {}", conn.peer_addr());
        relay(server, conn.id(), "**joined the chat");
    }

    fn conn_shutdown(&mut self, server: &ServerHandle, conn: &ConnectionHandle, _: &CloseReason) {
        println!("[INFO] Connection closed from {}", conn.peer_addr());
        relay(server, conn.id(), "**left the chat");
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let mut builder = Server::builder();
    for addr in &args.listen {
        builder = builder.listen(&addr.resolve()?[..]);
    }
    let listen = tinyproto_cli::addr::list(&args.listen);
    let server = builder.bind().map_err(|e| Error::listening(&listen, e))?;
    let handle = server.handle();
    server
        .run(
            move |_| Chatter {
                server: handle.clone(),
            },
            Lobby,
        )
        .map_err(|source| Error::Server {
            addr: listen,
            source,
        })
}
