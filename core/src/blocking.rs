//! The blocking driver over `embedded_io::{Read, Write}`.

use crate::buffer::Buffer;
use crate::connection::{Received, Sent};
use crate::error::{Error, SendError, TransmitError};
use crate::kernel::{Kernel, Outgoing, Step};
use crate::plugin::Plugins;
use crate::session::{Phase, Session, SessionEvent};
use crate::transport::{step, Transport};
use embedded_io::{Read, Write};

/// A connection driven by blocking reads and writes: [`BlockingConnection::transmit`] returns
/// when the message is written, [`BlockingConnection::receive`] when one has arrived.
///
/// One buffer serves both directions (a connection never sends and receives at once): it
/// receives messages, and holds outgoing ones while plugins transform them. Without plugins a
/// message is written straight from the caller's slice. Timeouts are the transport's (for
/// example a socket read timeout); the error then comes back as [`Error::Transport`].
///
/// # Outcomes and errors
/// What the connection survives is a value, what ends it an error:
/// * [`transmit`](Self::transmit) returns [`Sent::Written`], or [`Sent::Rejected`] when the
///   peer refused the size (nothing of the payload was sent). Its error is a
///   [`TransmitError`]: [`TransmitError::Send`] when the send could not start (the message
///   is longer than the protocol allows, or a plugin refused it; nothing was sent),
///   [`TransmitError::Connection`] when the connection ended.
/// * [`receive`](Self::receive) returns [`Received::Message`], [`Received::Refused`] when the
///   peer announced more than the buffer holds (we answered `0x00`), or
///   [`Received::Discarded`] when a receive plugin refused the message. Its error is an
///   [`Error`]; [`Error::Closed`] is the peer's clean close between messages.
///
/// After an error the connection is closed and every later call fails.
///
/// ```
/// use tinyproto_core::{BlockingConnection, Received, Sent, script::ScriptedPeer};
///
/// // The peer: its init byte, "go ahead" for our message, then a 5-byte message.
/// let peer = ScriptedPeer::new(b"\xff\xff\0\0\0\x05world", 1, heapless::Vec::<u8, 32>::new());
///
/// let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 64>::new());
/// conn.handshake()?;
/// assert_eq!(conn.transmit(b"hello")?, Sent::Written);
/// assert_eq!(conn.receive()?, Received::Message(&b"world"[..]));
/// assert_eq!(conn.into_inner().output(), b"\xff\0\0\0\x05hello\xff");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BlockingConnection<T, B, P = ()> {
    io: T,
    kernel: Kernel,
    session: Session,
    buf: B,
    plugins: P,
}

impl<T: Read + Write, B: Buffer> BlockingConnection<T, B> {
    /// A connection over `io` that receives messages of up to `buf.limit()` bytes.
    pub fn new(io: T, buf: B) -> Self {
        Self::with_plugins(io, buf, ())
    }
}

impl<T: Read + Write, B: Buffer, P: Plugins> BlockingConnection<T, B, P> {
    /// A connection whose messages pass through `plugins`.
    pub fn with_plugins(io: T, buf: B, plugins: P) -> Self {
        let limit = u32::try_from(buf.limit()).unwrap_or(u32::MAX);
        Self {
            io,
            kernel: Kernel::default(),
            session: Session::new(limit),
            buf,
            plugins,
        }
    }

    /// Completes the init handshake. [`BlockingConnection::transmit`] and
    /// [`BlockingConnection::receive`] do it themselves when it is not done yet.
    pub fn handshake(&mut self) -> Result<(), Error<T::Error>> {
        if self.session.phase() != Phase::Handshake {
            return Ok(());
        }
        let io = &mut Blocking(&mut self.io);
        drive(
            io,
            &mut self.kernel,
            &mut self.session,
            &mut self.buf,
            Outgoing::Slice(&[]),
        )
        .map(drop)
    }

    /// Sends one message and returns once it is written ([`Sent::Written`]) or the peer
    /// refused its size ([`Sent::Rejected`]; nothing of the payload was sent).
    ///
    /// [`TransmitError::Send`] means the send could not start and nothing was sent.
    pub fn transmit(&mut self, msg: &[u8]) -> Result<Sent, TransmitError<T::Error>> {
        self.handshake()?;
        let io = &mut Blocking(&mut self.io);
        let outgoing = if self.plugins.is_empty() {
            Outgoing::Slice(msg)
        } else {
            self.buf.set(msg).map_err(SendError::from)?;
            self.plugins
                .transmit(&mut self.buf)
                .map_err(SendError::from)?;
            Outgoing::Buffer
        };
        let len = match outgoing {
            Outgoing::Slice(msg) => msg.len(),
            Outgoing::Buffer => self.buf.as_slice().len(),
        };
        self.session.start_send(len)?;
        Ok(
            match drive(
                io,
                &mut self.kernel,
                &mut self.session,
                &mut self.buf,
                outgoing,
            )? {
                SessionEvent::Rejected { len } => Sent::Rejected { len },
                _ => Sent::Written,
            },
        )
    }

    /// Waits for one message and returns it (plugins applied), or what became of it: see
    /// [`Received`]. [`Error::Closed`] means the peer closed cleanly between messages.
    pub fn receive(&mut self) -> Result<Received<&[u8]>, Error<T::Error>> {
        self.handshake()?;
        let io = &mut Blocking(&mut self.io);
        Ok(
            match drive(
                io,
                &mut self.kernel,
                &mut self.session,
                &mut self.buf,
                Outgoing::Slice(&[]),
            )? {
                SessionEvent::Refused { len } => Received::Refused {
                    len,
                    limit: self.session.max_recv(),
                },
                _ => match self.plugins.receive(&mut self.buf) {
                    Ok(()) => Received::Message(self.buf.as_slice()),
                    Err(e) => Received::Discarded(e),
                },
            },
        )
    }

    /// The state machine, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The transport.
    pub fn io_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.io
    }
}

/// Steps `session` until it reports an event that ends an operation, then writes any answer it
/// still owes (so a refusal's `0x00` is on the wire before we return).
fn drive<T: Transport, B: Buffer>(
    io: &mut T,
    kernel: &mut Kernel,
    session: &mut Session,
    buf: &mut B,
    outgoing: Outgoing<'_>,
) -> Result<SessionEvent, Error<T::Error>> {
    let mut result = None;
    loop {
        match step(io, kernel, session, buf, outgoing) {
            Ok(Some(Step::Moved(_))) => {}
            Ok(Some(Step::Event(
                SessionEvent::Incoming { .. } | SessionEvent::Accepted { .. },
            ))) => {}
            Ok(Some(Step::Event(event))) => result = Some(event),
            // A blocking transport is always ready: only a closed session has nothing to do.
            Ok(None) => return result.ok_or(Error::Closed),
            Err(e) => {
                session.close();
                return Err(e);
            }
        }
        if let Some(event) = result {
            if kernel.is_settled(session) {
                return Ok(event);
            }
        }
    }
}

/// Adapts blocking `embedded-io` to [`Transport`]: always ready.
struct Blocking<'a, T>(&'a mut T);

impl<T: Read + Write> Transport for Blocking<'_, T> {
    type Error = T::Error;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        self.0.read(buf).map(Some)
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        self.0.write(buf).map(Some)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush()
    }
}
