//! `tinyproto listen ADDR`: accept connections, print or save every message, optionally answer
//! each one.

use crate::addr::HostPort;
use crate::error::Error;
use crate::opts::ConnOpts;
use crate::output::{Output, OutputOpts, Received};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tinyproto_std::{CloseReason, Conn, ConnectionHandle, Handler, ServerHandle, ServerHooks};

/// Flags of `listen`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Where to listen; port 0 picks a free port. `LISTENING <addr>` goes to stderr once
    /// listening.
    #[arg(value_name = "ADDR")]
    pub addr: HostPort,
    /// Answer each message with the same bytes.
    #[arg(long, conflicts_with = "reply")]
    pub echo: bool,
    /// Answer each message with the contents of FILE.
    #[arg(long, value_name = "FILE")]
    pub reply: Option<PathBuf>,
    /// Stop after N messages (default: run until interrupted).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Most connections at once; one more is answered 0xfe and closed.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: ConnOpts,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputOpts,
}

/// The answer to every message.
#[derive(Debug)]
enum Answer {
    None,
    Echo,
    Bytes(Vec<u8>),
}

/// What every connection shares.
struct Shared {
    output: Output,
    answer: Answer,
    received: AtomicU64,
    count: Option<u64>,
    server: ServerHandle,
    /// The first error writing the output, which stops the server.
    failure: Mutex<Option<Error>>,
}

/// One connection.
struct Listener {
    shared: Arc<Shared>,
    conn: u64,
    index: u64,
}

impl Handler for Listener {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let shared = &*self.shared;
        // Counted first, so that no message beyond --count is printed, even from another
        // connection while the server stops.
        let received = shared.received.fetch_add(1, Ordering::Relaxed) + 1;
        if shared.count.is_some_and(|count| received > count) {
            return;
        }
        self.index += 1;
        let written = shared.output.write(Received {
            conn: Some(self.conn),
            peer: conn.peer_addr(),
            index: self.index,
            bytes: &msg,
        });
        if let Err(e) = written {
            shared
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
            shared.server.shutdown();
            return;
        }
        let answer = match &shared.answer {
            Answer::None => None,
            Answer::Echo => Some(msg),
            Answer::Bytes(bytes) => Some(bytes.clone()),
        };
        if let Some(answer) = answer {
            if let Err(e) = conn.transmit(answer) {
                log::warn!("connection {}: cannot answer: {e}", self.conn);
            }
        }
        if shared.count == Some(received) {
            log::info!("{received} messages received: stopping");
            shared.server.shutdown();
        }
    }
}

/// Announces the listeners; logs every connection.
pub(crate) struct Announce;

impl ServerHooks for Announce {
    fn pre_loop(&mut self, server: &ServerHandle) {
        for addr in server.local_addrs() {
            eprintln!("LISTENING {addr}");
        }
    }

    fn conn_init(&mut self, _: &ServerHandle, conn: &ConnectionHandle) {
        log::info!("connection {} opened from {}", conn.id(), conn.peer_addr());
    }

    fn conn_shutdown(&mut self, _: &ServerHandle, conn: &ConnectionHandle, why: &CloseReason) {
        log::info!("connection {} closed ({why})", conn.id());
    }
}

/// Runs `listen`.
///
/// # Errors
/// When it cannot listen, read the reply file or write the output.
pub fn run(args: Args) -> Result<bool, Error> {
    let output = Output::new(args.output.clone())?;
    let answer = match (&args.reply, args.echo) {
        (Some(path), _) => Answer::Bytes(std::fs::read(path).map_err(|source| Error::File {
            doing: "read",
            path: path.clone(),
            source,
        })?),
        (None, true) => Answer::Echo,
        (None, false) => Answer::None,
    };
    let mut builder = args.conn.server().listen(&args.addr.resolve()?[..]);
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    let server = builder
        .bind()
        .map_err(|e| Error::listening(&args.addr, e))?;
    let shared = Arc::new(Shared {
        output,
        answer,
        received: AtomicU64::new(0),
        count: args.count,
        server: server.handle(),
        failure: Mutex::new(None),
    });
    let factory = {
        let shared = shared.clone();
        move |conn: &ConnectionHandle| Listener {
            shared: shared.clone(),
            conn: conn.id().get(),
            index: 0,
        }
    };
    server
        .run(factory, Announce)
        .map_err(|source| Error::Server {
            addr: args.addr.to_string(),
            source,
        })?;
    let failure = shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match failure {
        Some(e) => Err(e),
        None => Ok(true),
    }
}
