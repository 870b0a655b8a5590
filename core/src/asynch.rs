//! The async driver over `embedded_io_async::{Read, Write}` (feature `async`).
//!
//! [`AsyncConnection`] has the shape of the [blocking driver](crate::BlockingConnection) —
//! `handshake`, `transmit` returning [`Sent`], `receive` returning [`Received`] into the
//! caller's buffer, plugins, the same errors —
//! on the same sans-IO kernel, so the bytes it writes and the messages it delivers are the
//! blocking driver's under any chunking. It needs no allocator, no executor and no timer: any
//! runtime drives it (embassy, tokio through `embedded-io-adapters`, a hand-rolled `block_on`).
//!
//! # Timeouts
//! The runtime's own combinator bounds any call; the dropped future is handled as the
//! [cancel-safety](AsyncConnection#cancel-safety) rules say:
//! ```ignore
//! // embassy
//! match embassy_time::with_timeout(Duration::from_secs(5), conn.receive()).await {
//!     Ok(received) => handle(received?), // a Received, or the Error that ended the connection
//!     Err(TimeoutError) => { /* nothing lost: a later receive() resumes */ }
//! }
//! // tokio
//! let sent = tokio::time::timeout(Duration::from_secs(5), conn.transmit(b"ping")).await;
//! ```

use crate::buffer::Buffer;
use crate::connection::{Received, Sent};
use crate::error::{Error, TransmitError};
use crate::kernel::{Io, Kernel, Outgoing, Step};
use crate::plugin::Plugins;
use crate::session::{Phase, SendError, Session, SessionEvent};
use embedded_io_async::{Read, Write};

/// A connection driven by `async` reads and writes: [`AsyncConnection::transmit`] completes
/// when the message is written, [`AsyncConnection::receive`] when one has arrived.
///
/// One buffer serves both directions, as in the blocking driver: it receives messages, and
/// holds outgoing ones while plugins transform them. Without plugins a message is written
/// straight from the caller's slice.
///
/// # Cancel safety
/// Every future may be dropped at any await point (a timeout, a `select!`), provided the
/// transport's own `read`, `write` and `flush` futures are cancel-safe (a dropped read consumed
/// nothing, a dropped write wrote nothing), as embassy-net's `TcpSocket` and tokio's streams
/// are. Nothing is ever delivered in part, and the stream never loses sync:
/// * [`handshake`](Self::handshake): the connection stays usable; a later call resumes.
/// * [`receive`](Self::receive): the connection stays usable, and the next `receive()` resumes
///   where the wire is — the bytes of a half-received message are kept and the message is
///   delivered whole, a refusal or an empty message already seen is reported then. Until that
///   `receive()`, [`transmit`](Self::transmit) fails with [`SendError::Busy`] (nothing sent)
///   in a [`TransmitError::Send`].
/// * [`transmit`](Self::transmit): if the message had not started (the future was still
///   completing the handshake), nothing was sent and the connection stays usable; if it had
///   been written whole, it was sent and the connection stays usable. If it was dropped while
///   its header or payload was on the way or the peer's answer was awaited, the peer expects
///   bytes that are gone: the connection is closed, and the next call and every later one
///   fail with [`Error::Cancelled`]. Close the transport then.
///
/// ```
/// use core::future::Future;
/// use core::pin::pin;
/// use core::task::{Context, Poll, Waker};
/// use tinyproto_core::{AsyncConnection, Received, Sent, script::ScriptedPeer};
///
/// /// Runs a future whose I/O is always ready (here: a scripted peer in memory).
/// fn block_on<F: Future>(future: F) -> F::Output {
///     let mut future = pin!(future);
///     let mut cx = Context::from_waker(Waker::noop());
///     loop {
///         if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
///             return out;
///         }
///     }
/// }
///
/// // The peer: its init byte, "go ahead" for our message, then a 5-byte message.
/// let peer = ScriptedPeer::new(b"\xff\xff\0\0\0\x05world", 1, heapless::Vec::<u8, 32>::new());
/// let mut conn = AsyncConnection::new(peer, heapless::Vec::<u8, 64>::new());
/// block_on(async {
///     conn.handshake().await?;
///     assert_eq!(conn.transmit(b"hello").await?, Sent::Written);
///     assert_eq!(conn.receive().await?, Received::Message(&b"world"[..]));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// assert_eq!(conn.into_inner().output(), b"\xff\0\0\0\x05hello\xff");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncConnection<T, B, P = ()> {
    io: T,
    kernel: Kernel,
    session: Session,
    buf: B,
    plugins: P,
    /// The event that ends the current operation, kept until the peer is owed nothing (so a
    /// receive dropped while it writes its answer does not lose the message).
    held: Option<SessionEvent>,
    /// A `transmit` queued its header and has not returned: if it is still set when the next
    /// call starts, that transmit was dropped.
    sending: bool,
}

impl<T: Read + Write, B: Buffer> AsyncConnection<T, B> {
    /// A connection over `io` that receives messages of up to `buf.limit()` bytes.
    pub fn new(io: T, buf: B) -> Self {
        Self::with_plugins(io, buf, ())
    }
}

impl<T: Read + Write, B: Buffer, P: Plugins> AsyncConnection<T, B, P> {
    /// A connection whose messages pass through `plugins`.
    pub fn with_plugins(io: T, buf: B, plugins: P) -> Self {
        let limit = u32::try_from(buf.limit()).unwrap_or(u32::MAX);
        Self {
            io,
            kernel: Kernel::default(),
            session: Session::new(limit),
            buf,
            plugins,
            held: None,
            sending: false,
        }
    }

    /// Completes the init handshake. [`AsyncConnection::transmit`] and
    /// [`AsyncConnection::receive`] do it themselves when it is not done yet.
    pub async fn handshake(&mut self) -> Result<(), Error<T::Error>> {
        self.settle_dropped_transmit()?;
        if self.session.phase() != Phase::Handshake {
            return Ok(());
        }
        self.drive(Outgoing::Slice(&[])).await.map(drop)
    }

    /// Sends one message and completes once it is written ([`Sent::Written`]) or the peer
    /// refused its size ([`Sent::Rejected`]; nothing of the payload was sent), as
    /// [`BlockingConnection::transmit`](crate::BlockingConnection::transmit) does.
    ///
    /// [`TransmitError::Send`] means the send could not start and nothing was sent.
    pub async fn transmit(&mut self, msg: &[u8]) -> Result<Sent, TransmitError<T::Error>> {
        self.handshake().await?;
        if !self.session.is_idle() || self.held.is_some() {
            // A dropped receive left a message to finish: the buffer is not ours to use.
            let phase = self.session.phase();
            return Err(SendError::Busy { phase }.into());
        }
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
        self.sending = true;
        let event = self.drive(outgoing).await;
        self.sending = false;
        Ok(Sent::after(event?))
    }

    /// Waits for one message and returns it (plugins applied), or what became of it: see
    /// [`Received`], as [`BlockingConnection::receive`](crate::BlockingConnection::receive)
    /// does. [`Error::Closed`] means the peer closed cleanly between messages.
    pub async fn receive(&mut self) -> Result<Received<&[u8]>, Error<T::Error>> {
        self.handshake().await?;
        let event = self.drive(Outgoing::Slice(&[])).await?;
        let limit = self.session.max_recv();
        Ok(Received::after(
            event,
            limit,
            &mut self.buf,
            &mut self.plugins,
        ))
    }

    /// The state machine, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The buffer: after a [`receive`](Self::receive) that returned a message, that message
    /// (plugins applied) until the next call. A caller that bounds `receive()` with a timeout
    /// in a loop keeps no borrow across the loop and reads the message here.
    pub fn buffer(&self) -> &B {
        &self.buf
    }

    /// The transport.
    pub fn io_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Applies the rules for a `transmit` dropped before it returned (see the type's docs).
    fn settle_dropped_transmit(&mut self) -> Result<(), Error<T::Error>> {
        if !self.sending {
            return Ok(());
        }
        if self.session.phase() == Phase::Idle {
            // Written whole; its flush is still owed and goes first.
            self.sending = false;
            self.held = None;
            return Ok(());
        }
        self.session.close();
        Err(Error::Cancelled)
    }

    /// Does the I/O the kernel plans until the session reports an event that ends an operation
    /// and the peer is owed nothing (so a refusal's `0x00` is on the wire before we return).
    async fn drive(&mut self, outgoing: Outgoing<'_>) -> Result<SessionEvent, Error<T::Error>> {
        loop {
            if let Some(event) = self.held {
                if self.kernel.is_settled(&self.session) {
                    self.held = None;
                    return Ok(event);
                }
            }
            let plan = self.kernel.plan(&self.session, &mut self.buf, outgoing);
            let done = match plan {
                Ok(Io::Write(bytes)) => self.io.write(bytes).await.map_err(Error::Transport),
                Ok(Io::Read(region)) => self.io.read(region).await.map_err(Error::Transport),
                Ok(Io::Flush) => self.io.flush().await.map(|()| 0).map_err(Error::Transport),
                // Only a closed session has nothing to do.
                Ok(Io::Wait) => Err(Error::Closed),
                Err(e) => Err(Error::Capacity(e)),
            };
            let step = done.and_then(|n| self.kernel.commit(&mut self.session, &mut self.buf, n));
            match step {
                Ok(
                    Step::Moved(_)
                    | Step::Event(SessionEvent::Incoming { .. } | SessionEvent::Accepted { .. }),
                ) => {}
                Ok(Step::Event(event)) => self.held = Some(event),
                Err(e) => {
                    self.session.close();
                    return Err(e);
                }
            }
        }
    }
}
