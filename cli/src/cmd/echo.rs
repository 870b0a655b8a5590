//! `tinyproto echo ADDR`: the seed README's echo server.

use super::listen::Announce;
use crate::addr::HostPort;
use crate::error::Error;
use crate::opts::ConnOpts;
use tinyproto_std::{Conn, Handler, ServerHandle};

/// Flags of `echo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Where to listen; port 0 picks a free port. `LISTENING <addr>` goes to stderr once
    /// listening.
    #[arg(value_name = "ADDR")]
    pub addr: HostPort,
    /// Most connections at once; one more is answered 0xfe and closed.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: ConnOpts,
}

/// The seed README's echo, one per connection: answers `Echo back: ` + message; `QUIT` closes
/// the connection, `SRVQUIT` shuts the server down. A failed answer is logged (`log` warning).
///
/// Used by `tinyproto echo` and by the `echo-server` example:
///
/// ```no_run
/// use tinyproto_cli::cmd::echo::Echo;
/// use tinyproto_std::Server;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().listen("127.0.0.1:9123").inline_hooks(true).bind()?;
/// let handle = server.handle();
/// server.run(move |_| Echo::new(handle.clone()), ())?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Echo {
    server: ServerHandle,
}

impl Echo {
    /// An echo whose `SRVQUIT` shuts down `server`.
    pub fn new(server: ServerHandle) -> Self {
        Self { server }
    }
}

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        match &msg[..] {
            b"QUIT" => conn.shutdown(),
            b"SRVQUIT" => {
                log::info!("SRVQUIT from {}: stopping", conn.peer_addr());
                self.server.shutdown();
            }
            _ => {
                let mut reply = Vec::with_capacity(11 + msg.len());
                reply.extend_from_slice(b"Echo back: ");
                reply.extend_from_slice(&msg);
                if let Err(e) = conn.transmit(reply) {
                    log::warn!("connection {}: cannot answer: {e}", conn.id());
                }
            }
        }
    }
}

/// Runs `echo` until a client sends `SRVQUIT`.
///
/// # Errors
/// When it cannot listen.
pub fn run(args: Args) -> Result<bool, Error> {
    // The echo never waits: its hook runs on the I/O thread, the lowest latency.
    let mut builder = args
        .conn
        .server()
        .listen(&args.addr.resolve()?[..])
        .inline_hooks(true);
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    let server = builder
        .bind()
        .map_err(|e| Error::listening(&args.addr, e))?;
    let handle = server.handle();
    server
        .run(move |_| Echo::new(handle.clone()), Announce)
        .map_err(|source| Error::Server {
            addr: args.addr.to_string(),
            source,
        })?;
    Ok(true)
}
