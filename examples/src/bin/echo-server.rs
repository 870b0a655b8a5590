//! The seed README's echo server: answers each message with `Echo back: ` + message; `QUIT`
//! closes that connection, `SRVQUIT` shuts the server down (the process then exits 0).
//!
//! Prints `LISTENING <addr>` for each listener, then one line per connection opened and closed.
//!
//! The echo never waits, so its hooks run inline on the I/O thread (the lowest latency);
//! `--hook-threads` runs them on hook threads instead.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin echo-server -- --listen 127.0.0.1:9123 --listen [::1]:9123
//! ```

use clap::Parser;
use std::process::ExitCode;
use tinyproto_cli::cmd::echo::Echo;
use tinyproto_cli::{Error, HostPort};
use tinyproto_std::{CloseReason, ConnectionHandle, Server, ServerHandle, ServerHooks};

#[derive(Parser)]
#[command(about = "tinyproto echo server (the seed README's example)")]
struct Args {
    /// Address to listen on (host:port); repeat for several. Port 0 picks one.
    #[arg(long = "listen", default_value = "127.0.0.1:9123")]
    listen: Vec<HostPort>,
    /// Most connections at once; one more is answered 0xfe and closed.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Run the hooks on hook threads rather than inline on the I/O thread.
    #[arg(long)]
    hook_threads: bool,
}

/// Announces the listeners and every connection.
struct Announce;

impl ServerHooks for Announce {
    fn pre_loop(&mut self, server: &ServerHandle) {
        for addr in server.local_addrs() {
            println!("LISTENING {addr}");
        }
    }

    fn conn_init(&mut self, _: &ServerHandle, conn: &ConnectionHandle) {
        println!("Connection opened from: {}", conn.peer_addr());
    }

    fn conn_shutdown(&mut self, _: &ServerHandle, conn: &ConnectionHandle, why: &CloseReason) {
        println!("Connection closed from: {} ({why})", conn.peer_addr());
    }
}

fn main() -> ExitCode {
    // The echo's warnings (an answer that could not be sent) go to stderr.
    tinyproto_cli::logger::init(0);
    match run(Args::parse()) {
        Ok(()) => {
            println!("SERVER STOPPED");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let mut builder = Server::builder().inline_hooks(!args.hook_threads);
    for addr in &args.listen {
        builder = builder.listen(&addr.resolve()?[..]);
    }
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    let listen = tinyproto_cli::addr::list(&args.listen);
    let server = builder.bind().map_err(|e| Error::listening(&listen, e))?;
    let handle = server.handle();
    server
        .run(move |_| Echo::new(handle.clone()), Announce)
        .map_err(|source| Error::Server {
            addr: listen,
            source,
        })
}
