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
pub use connection::{Connection, Received, Sent};
pub use error::{Error, SendError, TransmitError};
pub use plugin::{Plugin, Plugins};
pub use polled::PolledConnection;
pub use session::Session;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
