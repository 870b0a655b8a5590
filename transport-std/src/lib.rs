//! tinyproto over std TCP: a server and a client with the hooks of the Python package, and a
//! plain blocking connection — wire-compatible with Python `tinyproto` 2.0.1 and 3.0.
//!
//! # Pieces
//! * [`Server`] (built by [`ServerBuilder`]): listen addresses (IPv4, IPv6, host names), a
//!   connection limit, a maximum message size, per-connection plugins, server hooks
//!   ([`ServerHooks`]: `pre_loop`, `loop_pass`, `post_loop`, `conn_init`, `conn_shutdown`,
//!   `conn_refused`) and a [`ServerHandle`] to list, send to, close and shut down from any
//!   thread. Connections are named by [`ConnSerial`].
//! * [`Client`] (built by [`ClientBuilder`]): several connections with hooks, and the optional
//!   client loop ([`ClientHooks`]).
//! * [`Handler`]: the hooks of one connection (`pre_loop`, `transmission_received`,
//!   `loop_pass`, `post_loop`, `transmission_failed`: the names and meanings of every
//!   transport's hooks, see the core's glossary); inside them [`Conn::transmit`] and [`Conn::receive`] block in
//!   lockstep like Python's. [`ConnectionHandle`] sends from any thread.
//! * [`TcpConnection`]: one blocking connection for scripts and tests.
//!
//! # Threads
//! One I/O thread polls every socket with `mio` (epoll/kqueue): it accepts, runs the protocol
//! of every connection without blocking, and enforces the timeouts. Hooks run on a pool of hook
//! threads that grows while all are busy, or with
//! [`inline_hooks`](ServerBuilder::inline_hooks) on the I/O thread itself (fastest; hooks must
//! not block there); the hooks of one connection run one at a time. A
//! hook's `transmit`/`receive` asks the I/O thread and waits for the answer, so a stalled peer
//! holds at most the hook thread waiting for it, never the other connections. While a hook
//! runs, its connection reads no further message from the peer (except for `receive`): TCP
//! flow control holds a fast peer back and memory stays bounded. Idle connections cost no CPU and
//! about a kilobyte of memory; buffers grow only as a message's bytes arrive and are freed
//! after it.
//!
//! Each connection is a sans-IO state machine (one lifecycle enum: handshaking, open, closed;
//! a stream trait; the time passed in) that the I/O thread drives, unit-tested with a scripted
//! stream and a fake clock. Handles and hooks reach the I/O thread through its mailbox of
//! commands; a connection over the limit is refused by the core's
//! [`Refusal`](tinyproto_core::refusal::Refusal). The README draws a message's path through it
//! all, and lists the modules in import order.
//!
//! With [`threads_per_connection`](ServerBuilder::threads_per_connection), each connection has
//! a thread of its own instead (the Python package's model): it blocks in `read` on its socket
//! and runs the connection's hooks, which may block there too — the least latency for a few
//! connections, at the price of a thread each.
//!
//! # Limits
//! A message above [`max_message_size`](ServerBuilder::max_message_size) is answered `0x00`
//! and skipped. All connections of a server (or client) share one budget for received
//! messages, [`max_buffered_bytes`](ServerBuilder::max_buffered_bytes): a header that does not
//! fit in what is left is refused the same way, so the peer sees a normal refusal and the
//! stream stays in sync. A header or payload that makes no progress for the whole stall limit
//! ([`Timeouts::stall`], default [`DEFAULT_TIMEOUTS`]) closes its connection, within 1/32 of the limit after it.
//!
//! # Example
//! ```
//! use tinyproto_std::{Conn, Handler, Received, Sent, Server, TcpConnection};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
//!         let _ = conn.transmit([b"Echo back: ", &msg[..]].concat());
//!     }
//! }
//!
//! let server = Server::builder().listen("127.0.0.1:0").bind()?;
//! let (addr, handle) = (server.local_addrs()[0], server.handle());
//! let thread = std::thread::spawn(move || server.run(|_| Echo, ()));
//!
//! let mut conn = TcpConnection::connect(addr)?;
//! assert_eq!(conn.transmit(b"hi")?, Sent::Written);
//! assert_eq!(conn.receive()?, Received::Message(b"Echo back: hi".to_vec()));
//! handle.shutdown();
//! thread.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See the README's "Porting from Python" for every Python class, method and hook.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[macro_use]
mod config;
mod budget;
mod client;
mod dial;
mod entry;
mod error;
mod handle;
mod hooks;
mod mailbox;
mod message;
mod protocol;
mod reactor;
mod reply;
mod serial;
mod server;
mod spares;
mod spin;
mod sync;
mod tcp;
mod threads;
mod transport;
mod workers;

pub use client::{Client, ClientBuilder, ClientHandle};
#[doc(hidden)]
pub use config::{ConnSettings, PluginFactory};
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_REUSE_LIMIT, DEFAULT_SPIN, DEFAULT_TIMEOUTS, MIN_DEFAULT_BUFFERED_BYTES,
};
pub use error::{CloseReason, ConnError, Error, ListenStep, StartError, TransmitError};
pub use handle::ConnectionHandle;
pub use hooks::{ClientHooks, Conn, Handler, ServerHooks};
pub use message::Message;
pub use serial::ConnSerial;
pub use server::{Server, ServerBuilder, ServerHandle, DEFAULT_BACKLOG};
pub use tcp::{TcpConnection, TcpConnectionBuilder};
pub use tinyproto_core::connection::Timeouts;
pub use tinyproto_core::{self as core, Plugin};
pub use tinyproto_core::{Received, Sent};
