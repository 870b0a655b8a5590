//! tinyproto on tokio: async connections and a server listener, wire-compatible with the
//! Python package `tinyproto` (2.0.1 and 3.0), on the same sans-IO core as every other
//! tinyproto driver.
//!
//! What a tokio program expects: the runtime's own sockets, readiness and timers (no thread and
//! no reactor of ours), `send(msg).await` and `recv().await`, halves for two tasks, owned
//! messages as [`Bytes`](bytes::Bytes), cancel safety written per method, a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) for shutdown.
//!
//! * [`connect`] / [`ConnectionBuilder`]: a client connection (host names, IPv6, a connect
//!   timeout), or [`ConnectionBuilder::handshake`] over any `AsyncRead + AsyncWrite + Unpin`.
//! * [`Listener`] / [`ListenerBuilder`]: `bind`, `accept().await` with the init handshake done,
//!   the connection limit answered with a single `0xfe`, graceful shutdown.
//! * [`Connection`]: `send`, `recv`, [`into_split`](Connection::into_split) into a
//!   [`SendHalf`] and a [`RecvHalf`].
//!
//! # Example: the seed's echo client
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut conn = tinyproto_tokio::connect("localhost:9123").await?;
//!     conn.send("hello").await?;
//!     let reply = conn.recv().await?.and_then(|r| r.message()).ok_or("no reply")?;
//!     println!("Response from server: {}", String::from_utf8_lossy(&reply));
//!     Ok(())
//! }
//! ```
//!
//! # Protocol behaviour
//! The same as every tinyproto driver (it is the core's): a message above
//! [`max_message_size`](ConnectionBuilder::max_message_size) is answered `0x00` and skipped
//! with the stream in sync ([`Received::Refused`]); a peer that refuses ours gives
//! [`Sent::Rejected`]; both are outcomes the connection survives, never errors. A message cut
//! short is a typed [`Error`] and nothing partial is delivered; the handshake, status and
//! stall [`Timeouts`] default to `tinyproto-std`'s.
//!
//! tinyproto moves one message at a time per connection: both peers sending at the same
//! instant collide (PROTOCOL.md Q6). A sender here waits while a message of the peer is
//! arriving, but a peer that starts a message while ours is announced cannot be told apart
//! from a refusal; use request/response, or let one side initiate.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[macro_use]
mod config;
mod buffer;
mod connect;
mod connection;
mod error;
mod io;
mod listener;

pub use config::{
    Timeouts, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REUSE_LIMIT,
    DEFAULT_TIMEOUTS,
};
pub use connect::{connect, ConnectionBuilder};
pub use connection::{Connection, RecvHalf, SendHalf};
pub use error::{BindError, ConnectError, Error, TransmitError};
pub use listener::{Listener, ListenerBuilder, DEFAULT_BACKLOG};
pub use tinyproto_core::connection::{Received, Sent};
pub use tinyproto_core::plugin::{Plugin, PluginError};
pub use tinyproto_core::session::{Phase, ProtocolError};
pub use tinyproto_core::SendError;
