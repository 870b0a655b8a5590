//! The sans-IO, `no_std` core of the tinyproto wire protocol, byte-compatible with the Python
//! package `tinyproto` (2.0.1 and 3.0).
//!
//! # The protocol
//! After TCP connects, each side writes the init byte `0xff` and reads the peer's. Then each
//! message is a 4-byte big-endian length header, a one-byte answer from the receiver (`0xff`
//! go ahead, `0x00` too large) and, when accepted, the payload. See [`wire`] for the constants.
//!
//! # Layers
//! * [`session::Session`]: the state machine of one connection. It never touches a socket or
//!   a clock: bytes in, bytes out, events out. It asks for exactly the bytes it still needs and
//!   never reads past a header before its answer is written. 24 bytes of state.
//! * [`buffer`]: where messages live — `heapless::Vec<u8, N>`, [`buffer::SliceBuffer`] over
//!   `&mut [u8]`, or with feature `alloc` a `buffer::VecBuffer` that grows only as bytes arrive.
//!   A header above the buffer's limit is answered `0x00` and the stream stays in sync.
//! * [`plugin`]: message transforms, in order on transmit and in reverse on receive.
//! * Drivers, so nobody drives the state machine by hand:
//!   [`BlockingConnection`] over `embedded_io::{Read, Write}`, [`PolledConnection`] over
//!   `ReadReady`/`WriteReady`, and [`connection::Connection`] over any non-blocking
//!   [`transport::Transport`] (what the std and smoltcp transports use); with feature `async`,
//!   `AsyncConnection` over `embedded_io_async::{Read, Write}`. All of them sit on
//!   one sans-IO kernel that plans the session's next I/O (write these bytes, read into this
//!   region, flush) and commits what that I/O did; only the I/O itself is theirs.
//!
//! # Example: the blocking driver
//! ```
//! use tinyproto_core::{BlockingConnection, Error, Received, script::ScriptedPeer};
//!
//! // A peer scripted in memory (any `embedded_io::Read + Write` works the same, a TCP socket
//! // included): its init byte, then the message "hi", then it closes.
//! let peer = ScriptedPeer::new(b"\xff\0\0\0\x02hi", 3, heapless::Vec::<u8, 16>::new());
//! let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 64>::new());
//!
//! conn.handshake()?;
//! assert_eq!(conn.receive()?, Received::Message(&b"hi"[..]));
//! assert_eq!(conn.receive(), Err(Error::Closed)); // clean close between messages
//! // On the wire from us: our init byte, then "go ahead" for the 2-byte message.
//! assert_eq!(conn.into_inner().output(), &[0xff, 0xff]);
//! # Ok::<(), Error<embedded_io::ErrorKind>>(())
//! ```
//!
//! # Events and errors
//! What a connection survives is reported as a value: [`connection::Event`] from `poll`,
//! [`Received`] and [`Sent`] from the calls that wait (a message we refused as too large, one
//! the peer rejected, one a receive plugin refused). What ends it is an error, and each call
//! returns only the errors it can produce (see [`error`]): [`SendError`] when a send cannot
//! start, [`Error`] when the connection is over, [`TransmitError`] (one of the two) from the
//! calls that start a send and wait for it. Each carries the byte, length or missing count
//! involved. Peer input never panics: truncated headers and payloads are
//! [`session::ProtocolError::UnexpectedEof`], and nothing partial is ever delivered.
//!
//! # Glossary
//! One name per concept, in this crate and in every transport (`tinyproto-std`,
//! `tinyproto-smoltcp`, the `nal` binding):
//! * **Session** ([`Session`]): the sans-IO state machine of one connection; what it reports
//!   is a [`SessionEvent`](session::SessionEvent) (headers, answers, ends of messages), the
//!   raw material of a connection's [`Event`](connection::Event)s.
//! * **Connection** ([`Connection`]): a session with its buffers, plugins and timeouts,
//!   polled with `poll(io, now)`. A **driver** runs one over some I/O: [`BlockingConnection`],
//!   [`PolledConnection`], `AsyncConnection` (feature `async`), and each transport.
//! * **Transport** ([`transport::Transport`]): a byte pipe that may not be ready; its error
//!   has a [`kind()`](embedded_io::Error::kind).
//! * **Event** ([`connection::Event`]): what a connection reports and survives. **Sent** /
//!   **Received** ([`Sent`], [`Received`]): the same outcomes from the calls that wait.
//! * **Refused**: *we* answered a header `0x00` (too large for us). **Rejected**: the *peer*
//!   answered ours `0x00`. **Discarded**: a receive plugin refused a whole message.
//!   **Failure** ([`connection::Failure`]): one of these, or a send that could not start;
//!   what a `transmission_failed` hook is given.
//! * **Error** ([`Error`]): why a connection ended. **SendError** ([`SendError`]): why a send
//!   could not start. **TransmitError** ([`TransmitError`]): one of the two.
//! * **Refusal** ([`refusal::Refusal`]): a server's answer to a connection over its limit:
//!   `0xfe`, a linger, then close (and re-arming the listener). The hook that reports it is
//!   `conn_refused`.
//! * **Timeouts** ([`connection::Timeouts`]): the protocol's limits (handshake, status byte,
//!   stall), in the milliseconds of `now`. A transport that takes `Duration`s converts them to
//!   these; other limits (TCP connect, linger) are the transport's own settings.
//! * **ConnId** ([`ConnId`]): names one connection of a server or client for its whole life;
//!   an id kept after its connection ended addresses nothing. (`tinyproto-std`, with no fixed
//!   pool of slots, names its connections by a serial number, `ConnSerial`.)
//! * **Handler**: the application's hooks, named after the Python package's. Connection
//!   hooks: `pre_loop` (handshake done), `transmission_received`, `loop_pass`, `post_loop`
//!   (the connection ended), `transmission_failed`. Server hooks: `pre_loop`, `loop_pass`,
//!   `post_loop` (of the server's loop), `conn_init` (a peer's TCP connection is up; its init
//!   handshake runs next, as in the Python package's server), `conn_shutdown` (a connection
//!   that `conn_init` reported ended), `conn_refused` (a peer refused at the limit).
//!   **Conn**: what a connection hook is handed to act on its connection (transmit, shut
//!   down); **Control**: what a server hook is handed (every connection, stop).
//!
//! # Features
//! `alloc` (heap buffers, boxed plugin chains), `std`, `log`, `defmt`; all off by default.
//! `nal`: a client and a server over any `embedded-nal` 0.9 TCP stack (module `nal`, `no_std`).
//! `async`: the async driver over `embedded-io-async` 0.7 (module `asynch`, `no_std`, no
//! executor or timer dependency).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

#[macro_use]
mod log;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
pub mod blocking;
pub mod buffer;
pub mod conn_id;
pub mod connection;
pub mod error;
mod kernel;
#[cfg(feature = "nal")]
#[cfg_attr(docsrs, doc(cfg(feature = "nal")))]
pub mod nal;
pub mod plugin;
pub mod polled;
pub mod refusal;
pub mod script;
pub mod session;
pub mod transport;
pub mod wire;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use asynch::AsyncConnection;
pub use blocking::BlockingConnection;
pub use buffer::Buffer;
pub use conn_id::ConnId;
pub use connection::{Connection, Received, Sent};
pub use error::{Error, SendError, TransmitError};
pub use plugin::{Plugin, Plugins};
pub use polled::PolledConnection;
pub use session::Session;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
