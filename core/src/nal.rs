//! The protocol over any [`embedded-nal`](embedded_nal) 0.9 TCP stack (feature `nal`): a
//! [`NalClient`] over [`TcpClientStack`] and a [`NalServer`] over [`TcpFullStack`].
//!
//! Both are `no_std` and allocation-free: messages live in the [`Buffer`](crate::Buffer)s of a
//! [`Connection`](crate::Connection) you build (`heapless::Vec`, [`SliceBuffer`] over your own
//! memory, ...), and the server keeps its connections in a `heapless::Vec` of fixed capacity.
//!
//! # Driving
//! Nothing here owns the stack or reads a clock. Every call takes the stack (`&mut S`, so one
//! stack serves any number of clients and servers) and the time: either `now`, a monotonic
//! millisecond count, for the non-blocking `poll` methods, or a clock closure and a time limit
//! for the convenience calls that spin on `poll` until they are done
//! ([`NalClient::connect`], [`NalClient::transmit`], [`NalClient::receive`]). Those call the
//! clock once per spin, so a clock that also yields or sleeps briefly is a fine place to give
//! the CPU away.
//!
//! # Hooks as events
//! The server reports what the other transports' hooks are called for (see the crate's
//! glossary) as a [`ServerEvent`] from each [`NalServer::poll`], in the same order:
//!
//! | hook (`tinyproto-std`, `tinyproto-smoltcp`) | [`ServerEvent`] |
//! | --- | --- |
//! | `conn_init` (TCP up, handshake next) | `Accepted { id, peer }` |
//! | `conn_refused` | `Refused { peer }` |
//! | `pre_loop` of a connection (handshake done) | `Connection { event: Event::HandshakeDone, .. }` |
//! | `transmission_received` | `Connection { event: Event::Received, .. }` (the message: [`ServerConnection::message`]) |
//! | `transmission_failed` | `Connection { event, .. }` where [`event.failure()`](crate::connection::Event::failure) is `Some` (refused, discarded, rejected) |
//! | `post_loop` of a connection, then `conn_shutdown` | `Closed { id, peer, reason }` |
//!
//! The server-level `pre_loop`, `loop_pass` and `post_loop` are the caller's own code around
//! the calls to `poll`.
//!
//! # What the stack must report
//! embedded-nal leaves some behaviour to the stack; this module reads it as follows.
//! * `receive`: [`nb::Error::WouldBlock`] when nothing has arrived, `Ok(0)` at end of stream
//!   (as `std-embedded-nal` does, which returns what `std::io::Read::read` returns). A stack
//!   that reports "nothing yet" as `Ok(0)` needs [`ZeroRead::WouldBlock`]; it then has to
//!   report the peer's close as an error. An error of kind [`TcpErrorKind::PipeClosed`] from
//!   `receive` is end of stream either way.
//! * `send`: `WouldBlock` (or `Ok(0)`) when it cannot take bytes now.
//! * `connect`: `Ok` once connected, `WouldBlock` while the handshake is on its way.
//!
//! End of stream is then judged by the protocol: between messages it is a clean close
//! ([`Error::Closed`]), inside a handshake, header or payload it is
//! [`ProtocolError::UnexpectedEof`](crate::session::ProtocolError::UnexpectedEof).
//!
//! # Sockets are never leaked
//! A failed connect closes its socket; so does every fatal error of a client (the peer closed
//! or vanished, a protocol violation, a timeout), and a server closes the socket of every
//! connection it drops and of every connection it refuses at its limit. embedded-nal's
//! `close` needs the stack, so nothing can close on `Drop`: to end a healthy connection call
//! [`NalClient::close`], [`NalServer::close_connection`] or [`NalServer::close`].
//! (`std-embedded-nal` also closes a socket when it is dropped; stacks with a fixed socket
//! pool do not.)
//!
//! # Stacks whose accepted sockets block
//! `std-embedded-nal` 0.4 hands out accepted sockets as `TcpListener::accept` returns them,
//! and on Linux those are blocking (only its client sockets are switched to non-blocking).
//! [`NalServer::poll`] then waits inside `receive` until that client sends (a client refused
//! at the limit too, while its refusal lingers): fine for one client per thread, wrong for a
//! server loop that serves several. The tests of this crate switch accepted sockets to
//! non-blocking in a wrapper stack.
//!
//! # Example: a server thread and a client
//! ```
//! use std::time::{Duration, Instant};
//! use std_embedded_nal::Stack;
//! use tinyproto_core::{Connection, Received, Sent};
//! use tinyproto_core::connection::Event;
//! use tinyproto_core::nal::{NalClient, NalServer, ServerEvent};
//!
//! type Buf = heapless::Vec<u8, 256>;
//! fn conn() -> Connection<Buf> {
//!     Connection::new(Buf::new(), Buf::new())
//! }
//! let start = Instant::now();
//! let mut clock = move || start.elapsed().as_millis() as u64;
//!
//! // std-embedded-nal binds the port on every address; ask the OS for a free one.
//! let port = std::net::TcpListener::bind("[::]:0")?.local_addr()?.port();
//! let mut server = NalServer::<_, _, _, _, _, 2>::bind(&mut Stack, port, conn).unwrap();
//! // The server answers each message reversed, until its client leaves.
//! let server = std::thread::spawn(move || {
//!     while start.elapsed() < Duration::from_secs(10) {
//!         match server.poll(&mut Stack, clock()).unwrap() {
//!             Some(ServerEvent::Connection { id, event: Event::Received }) => {
//!                 let c = server.connection_mut(id).unwrap();
//!                 let reversed: Buf = c.message().iter().rev().copied().collect();
//!                 c.send(&reversed).unwrap();
//!             }
//!             Some(ServerEvent::Closed { .. }) => break,
//!             _ => {}
//!         }
//!     }
//!     server.close(&mut Stack)
//! });
//!
//! let mut stack = Stack;
//! let remote = ([127, 0, 0, 1], port).into();
//! let mut client = NalClient::connect(&mut stack, remote, conn(), &mut clock, 5_000)?;
//! let sent = client.transmit(&mut stack, b"ping", &mut clock, 5_000).unwrap();
//! assert_eq!(sent, Sent::Written);
//! let reply = client.receive(&mut stack, &mut clock, 5_000).unwrap();
//! assert_eq!(reply, Some(Received::Message(&b"gnip"[..])));
//! client.close(&mut stack).unwrap();
//! server.join().unwrap().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`SliceBuffer`]: crate::buffer::SliceBuffer
//! [`Error::Closed`]: crate::Error::Closed

use crate::transport::Transport;
use core::fmt;
use embedded_nal::{nb, TcpClientStack, TcpError, TcpErrorKind};

mod client;
mod server;

#[cfg(doc)]
use embedded_nal::TcpFullStack;

pub use client::{ConnectError, NalClient};
pub use server::{NalServer, ServerConnection, ServerError, ServerEvent, LINGERING_REFUSALS};

/// What `Ok(0)` from the stack's `receive` means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ZeroRead {
    /// End of stream, as `std::io::Read` and `std-embedded-nal` report it (the default).
    #[default]
    Eof,
    /// Nothing has arrived yet; the stack reports end of stream as an error (of kind
    /// [`TcpErrorKind::PipeClosed`], or another error that then closes the connection).
    WouldBlock,
}

/// A stack and one of its connected sockets, seen as the byte pipe the protocol runs on.
///
/// [`NalClient`] and [`NalServer`] use it; it is public for driving a
/// [`Connection`](crate::Connection) or a [`Session`](crate::Session) by hand.
/// `WouldBlock` becomes "not ready"; end of stream is read as [`ZeroRead`] says.
pub struct NalSocket<'a, S: TcpClientStack + ?Sized> {
    stack: &'a mut S,
    socket: &'a mut S::TcpSocket,
    zero_read: ZeroRead,
}

impl<'a, S: TcpClientStack + ?Sized> NalSocket<'a, S> {
    /// The pipe over `socket`, which must be connected; `Ok(0)` from `receive` is end of
    /// stream.
    pub fn new(stack: &'a mut S, socket: &'a mut S::TcpSocket) -> Self {
        Self {
            stack,
            socket,
            zero_read: ZeroRead::Eof,
        }
    }

    /// Sets what `Ok(0)` from `receive` means.
    pub fn with_zero_read(mut self, zero_read: ZeroRead) -> Self {
        self.zero_read = zero_read;
        self
    }
}

impl<S: TcpClientStack + ?Sized> fmt::Debug for NalSocket<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NalSocket")
            .field("zero_read", &self.zero_read)
            .finish_non_exhaustive()
    }
}

impl<S: TcpClientStack + ?Sized> Transport for NalSocket<'_, S> {
    type Error = StackError<S::Error>;

    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        match self.stack.receive(self.socket, buf) {
            Ok(0) if !buf.is_empty() && self.zero_read == ZeroRead::WouldBlock => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(nb::Error::WouldBlock) => Ok(None),
            Err(nb::Error::Other(e)) if e.kind() == TcpErrorKind::PipeClosed => Ok(Some(0)),
            Err(nb::Error::Other(e)) => Err(StackError(e)),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        match self.stack.send(self.socket, buf) {
            // Some stacks take nothing when their buffer is full instead of saying WouldBlock.
            Ok(0) if !buf.is_empty() => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(nb::Error::WouldBlock) => Ok(None),
            Err(nb::Error::Other(e)) => Err(StackError(e)),
        }
    }

    /// An embedded-nal stack has no flush: what `send` took is the stack's to send.
    fn buffers_writes(&self) -> bool {
        false
    }
}

/// An error of the stack as the protocol's transport error: embedded-nal errors are only
/// `Debug` with a [`TcpErrorKind`], this gives them `Display`, [`core::error::Error`] and an
/// [`embedded_io::ErrorKind`] (`PipeClosed` is `BrokenPipe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StackError<E>(pub E);

impl<E: TcpError> fmt::Display for StackError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stack error: {:?}", self.0)
    }
}

impl<E: TcpError> core::error::Error for StackError<E> {}

impl<E: TcpError> embedded_io::Error for StackError<E> {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0.kind() {
            TcpErrorKind::PipeClosed => embedded_io::ErrorKind::BrokenPipe,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// The error of a connection over the stack `S`.
pub type NalError<S> = crate::Error<StackError<<S as embedded_nal::TcpClientStack>::Error>>;

/// Closes `socket`, for paths that already report a more important error.
fn close_quietly<S: TcpClientStack + ?Sized>(stack: &mut S, socket: S::TcpSocket) {
    if stack.close(socket).is_err() {
        trace!("closing a socket failed too");
    }
}

#[cfg(test)]
mod tests;
