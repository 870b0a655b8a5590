//! A connection ready to be polled: the [`Session`] with its buffers, plugins and timeouts.
//!
//! [`Connection`] is what every non-blocking transport drives (the polled `embedded-io` driver
//! of this crate, and the std and smoltcp transports): hand it a [`Transport`] and the current
//! time, and it moves what can be moved without blocking and reports what happened.

use crate::buffer::Buffer;
use crate::error::Error;
use crate::kernel::{Kernel, Outgoing, Step};
use crate::plugin::{PluginError, Plugins};
use crate::session::{Phase, SendError, Session, SessionEvent};
use crate::transport::{step, Transport};
use core::fmt;

/// Time limits in milliseconds; `None` waits forever. The time is whatever monotonic
/// millisecond count the caller passes to [`Connection::poll`].
///
/// ```
/// use tinyproto_core::connection::Timeouts;
/// let t = Timeouts::new().handshake(5_000).status(5_000).stall(30_000);
/// assert_eq!(t.stall_ms(), Some(30_000));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    handshake: Option<u32>,
    status: Option<u32>,
    stall: Option<u32>,
}

impl Timeouts {
    /// No timeouts.
    pub const fn new() -> Self {
        Self {
            handshake: None,
            status: None,
            stall: None,
        }
    }

    /// Limit for the peer's init byte, from the first poll.
    pub const fn handshake(mut self, ms: u32) -> Self {
        self.handshake = Some(ms);
        self
    }

    /// Limit for the status byte that answers our header.
    pub const fn status(mut self, ms: u32) -> Self {
        self.status = Some(ms);
        self
    }

    /// Limit on a header or payload (either direction) that stops making progress.
    pub const fn stall(mut self, ms: u32) -> Self {
        self.stall = Some(ms);
        self
    }

    /// The handshake limit.
    pub const fn handshake_ms(&self) -> Option<u32> {
        self.handshake
    }

    /// The status-byte limit.
    pub const fn status_ms(&self) -> Option<u32> {
        self.status
    }

    /// The stall limit.
    pub const fn stall_ms(&self) -> Option<u32> {
        self.stall
    }

    /// The limit on what `session` waits for now. Control bytes of ours that the transport
    /// does not take (an owed `0xff`/`0x00`, a header) mean a peer that stopped reading: a
    /// stall in any phase, between messages too.
    #[inline]
    fn for_session(&self, session: &Session) -> Option<u32> {
        match session.phase() {
            Phase::Handshake => self.handshake,
            Phase::Closed => None,
            _ if !session.pending_output().is_empty() => self.stall,
            Phase::Status => self.status,
            Phase::Header | Phase::ReceivingPayload | Phase::SendingPayload => self.stall,
            Phase::Idle => None,
        }
    }
}

/// What [`Connection::poll`] reports: everything the connection survives. (What ends it is an
/// [`Error`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// The init handshake completed.
    HandshakeDone,
    /// A whole message arrived (plugins applied); read it with [`Connection::message`].
    Received,
    /// The peer announced a message above our limit: we answered `0x00`, no payload follows
    /// and the stream is in sync.
    Refused {
        /// Length the peer announced.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// A whole message arrived but a receive plugin refused it (for example it could not be
    /// decoded); it is dropped and the stream is in sync.
    Discarded(PluginError),
    /// Our message was accepted and written completely.
    Sent,
    /// The peer answered our header with `0x00` (too large for it): nothing of the payload
    /// was sent, and a new send may start.
    Rejected {
        /// Length we announced.
        len: u32,
    },
}

impl Event {
    /// The message that did not make it, for the events that report one
    /// ([`Event::Refused`], [`Event::Discarded`], [`Event::Rejected`]).
    pub fn failure(&self) -> Option<Failure> {
        match *self {
            Self::Refused { len, limit } => Some(Failure::Refused { len, limit }),
            Self::Discarded(e) => Some(Failure::Discarded(e)),
            Self::Rejected { len } => Some(Failure::Rejected { len }),
            Self::HandshakeDone | Self::Received | Self::Sent => None,
        }
    }
}

/// A message that did not make it, on a connection that goes on: what a transport's
/// `transmission_failed` hook is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Failure {
    /// We refused the peer's message as too large (answered `0x00`).
    Refused {
        /// Length the peer announced.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// A receive plugin refused a message that arrived whole.
    Discarded(PluginError),
    /// The peer refused our message as too large; nothing of its payload was sent.
    Rejected {
        /// Length we announced.
        len: u32,
    },
    /// Our message could not start (too long, or a send plugin refused it); nothing was sent.
    Send(SendError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { len, limit } => {
                write!(f, "refused a message of {len} bytes (limit {limit})")
            }
            Self::Discarded(e) => write!(f, "discarded a received message: {e}"),
            Self::Rejected { len } => {
                write!(f, "peer rejected our message of {len} bytes (too large)")
            }
            Self::Send(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl core::error::Error for Failure {}

/// How a message we transmitted ended, from the calls that wait for it
/// ([`BlockingConnection::transmit`](crate::BlockingConnection::transmit), the `nal`
/// client's `transmit`). The connection stays usable either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "the peer may have rejected the message"]
pub enum Sent {
    /// The peer accepted the message and it is written completely.
    Written,
    /// The peer answered our header with `0x00` (too large for it); nothing of the payload
    /// was sent.
    Rejected {
        /// Length we announced.
        len: u32,
    },
}

impl Sent {
    /// How a transmit that ended with the session's `event` ended.
    pub(crate) fn after(event: SessionEvent) -> Self {
        match event {
            SessionEvent::Rejected { len } => Self::Rejected { len },
            _ => Self::Written,
        }
    }
}

/// What arrived, from the calls that wait for a message
/// ([`BlockingConnection::receive`](crate::BlockingConnection::receive) gives a
/// `Received<&[u8]>`, as the `nal` client's `receive` does; a transport that hands out owned
/// messages gives a `Received<Vec<u8>>`). The connection stays usable after each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "the message may have been refused"]
pub enum Received<M> {
    /// A whole message, plugins applied.
    Message(M),
    /// The peer announced a message above our limit: we answered `0x00` and no payload
    /// follows.
    Refused {
        /// Length the peer announced.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// A whole message arrived but a receive plugin refused it; it is dropped.
    Discarded(PluginError),
}

impl<'a> Received<&'a [u8]> {
    /// What a receive that ended with the session's `event` (a message, or a refusal with
    /// our `limit`) delivers: the message in `buf` after the receive `plugins`.
    pub(crate) fn after<B: Buffer, P: Plugins>(
        event: SessionEvent,
        limit: u32,
        buf: &'a mut B,
        plugins: &mut P,
    ) -> Self {
        if let SessionEvent::Refused { len } = event {
            return Self::Refused { len, limit };
        }
        match plugins.receive(buf) {
            Ok(()) => {
                let buf: &'a B = buf;
                Self::Message(buf.as_slice())
            }
            Err(e) => Self::Discarded(e),
        }
    }
}

impl<M> Received<M> {
    /// The message, or `None` when it was refused or discarded.
    pub fn message(self) -> Option<M> {
        match self {
            Self::Message(msg) => Some(msg),
            _ => None,
        }
    }

    /// Maps the message, keeping the other variants.
    pub fn map<N>(self, f: impl FnOnce(M) -> N) -> Received<N> {
        match self {
            Self::Message(msg) => Received::Message(f(msg)),
            Self::Refused { len, limit } => Received::Refused { len, limit },
            Self::Discarded(e) => Received::Discarded(e),
        }
    }
}

/// Most bytes one [`Connection::poll`] moves before it returns, so that one busy peer cannot
/// starve the others in a single-threaded loop. [`Connection::poll_at`] then asks to be polled
/// again at once.
pub const POLL_BUDGET: usize = 256 * 1024;

/// One connection's protocol state, buffers and plugins, driven by [`Connection::poll`].
///
/// `rx` receives messages (its limit is the largest message accepted); `tx` holds the message
/// being sent (its limit is the largest message we send, after plugins). They may be of
/// different types: firmware can pair a large receive buffer with a small send buffer, or a
/// growing heap buffer with a fixed one.
///
/// ```
/// use tinyproto_core::connection::{Connection, Event};
/// use tinyproto_core::transport::Transport;
///
/// /// An in-memory peer that already sent its init byte and a 2-byte message.
/// struct Script { input: &'static [u8], output: heapless::Vec<u8, 16> }
/// impl Transport for Script {
///     type Error = core::convert::Infallible;
///     fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
///         if self.input.is_empty() { return Ok(None) }
///         let n = buf.len().min(self.input.len());
///         buf[..n].copy_from_slice(&self.input[..n]);
///         self.input = &self.input[n..];
///         Ok(Some(n))
///     }
///     fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
///         self.output.extend_from_slice(buf).unwrap();
///         Ok(Some(buf.len()))
///     }
/// }
///
/// let mut io = Script { input: &[0xff, 0, 0, 0, 2, b'h', b'i'], output: heapless::Vec::new() };
/// let mut conn = Connection::new(heapless::Vec::<u8, 64>::new(), heapless::Vec::<u8, 64>::new());
/// assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
/// assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::Received)));
/// assert_eq!(conn.message(), b"hi");
/// assert_eq!(io.output.as_slice(), &[0xff, 0xff]); // our init byte, then "go ahead"
/// ```
#[derive(Debug)]
pub struct Connection<R, T = R, P = ()> {
    kernel: Kernel,
    session: Session,
    rx: R,
    tx: T,
    plugins: P,
    timeouts: Timeouts,
    last_progress: Option<u64>,
    /// When to look again whether a transport that took none of our bytes takes some now.
    probe_at: Option<u64>,
    again: bool,
}

/// While the transport takes none of the bytes we owe, the connection asks to be polled
/// every this fraction of the timeout, to see whether it takes some now. A socket announces
/// free room only once a good part of its buffer is free (epoll wakes a writer when half
/// is), so the room a peer makes by reading a little is found only by trying: found at the
/// deadline itself, it would count as fresh progress and restart the whole wait. Probing
/// stamps progress at most `timeout / PROBES` late, so a peer that stops reading is closed
/// at most that much after the limit.
pub const PROBES: u32 = 32;

impl<R: Buffer, T: Buffer> Connection<R, T> {
    /// A connection without plugins or timeouts; its init byte is queued.
    pub fn new(rx: R, tx: T) -> Self {
        Self::with_plugins(rx, tx, ())
    }
}

impl<R: Buffer, T: Buffer, P: Plugins> Connection<R, T, P> {
    /// A connection whose messages pass through `plugins`.
    pub fn with_plugins(rx: R, tx: T, plugins: P) -> Self {
        let limit = u32::try_from(rx.limit()).unwrap_or(u32::MAX);
        Self {
            kernel: Kernel::default(),
            session: Session::new(limit),
            rx,
            tx,
            plugins,
            timeouts: Timeouts::new(),
            last_progress: None,
            probe_at: None,
            again: false,
        }
    }

    /// Sets the timeouts.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// The state machine, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Lowers (or restores) the largest message accepted, from the next header on; it never
    /// goes above what the receive buffer holds. A larger message is answered `0x00`
    /// ([`Event::Refused`]) and the connection goes on.
    pub fn set_receive_limit(&mut self, limit: usize) {
        let limit = limit.min(self.rx.limit());
        self.session
            .set_max_recv(u32::try_from(limit).unwrap_or(u32::MAX));
    }

    /// Whether [`Connection::send`] would be accepted now.
    pub fn can_send(&self) -> bool {
        self.session.is_idle()
    }

    /// Starts sending `msg`: copies it to the send buffer, runs the plugins and queues the
    /// header. The bytes move on the following polls; [`Event::Sent`] reports the end.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.check_idle()?;
        self.tx.set(msg)?;
        self.send_buffered()
    }

    /// Starts sending what the send buffer holds (placed there through
    /// [`Connection::tx_buffer_mut`], for example a message moved in without a copy): runs the
    /// plugins over it and queues the header, like [`Connection::send`].
    ///
    /// ```
    /// use tinyproto_core::buffer::Buffer;
    /// use tinyproto_core::connection::{Connection, Event};
    /// use tinyproto_core::transport::Transport;
    ///
    /// /// A peer that sent its init byte, and takes whatever we write.
    /// struct Peer(&'static [u8]);
    /// impl Transport for Peer {
    ///     type Error = core::convert::Infallible;
    ///     fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
    ///         let Some((&b, rest)) = self.0.split_first() else { return Ok(None) };
    ///         (buf[0], self.0) = (b, rest);
    ///         Ok(Some(1))
    ///     }
    ///     fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
    ///         Ok(Some(buf.len()))
    ///     }
    /// }
    ///
    /// let buf = || heapless::Vec::<u8, 64>::new();
    /// let mut conn = Connection::new(buf(), buf());
    /// assert_eq!(conn.poll(&mut Peer(&[0xff]), 0), Ok(Some(Event::HandshakeDone)));
    /// conn.tx_buffer_mut().set(b"in place").unwrap();
    /// assert_eq!(conn.send_buffered(), Ok(()));
    /// assert_eq!(conn.session().pending_output(), &[0, 0, 0, 8]);
    /// ```
    pub fn send_buffered(&mut self) -> Result<(), SendError> {
        self.check_idle()?;
        self.plugins.transmit(&mut self.tx)?;
        self.session.start_send(self.tx.as_slice().len())
    }

    fn check_idle(&self) -> Result<(), SendError> {
        if self.session.is_idle() {
            Ok(())
        } else {
            Err(SendError::Busy {
                phase: self.session.phase(),
            })
        }
    }

    /// The last message received, valid after [`Event::Received`] until the next poll.
    pub fn message(&self) -> &[u8] {
        self.rx.as_slice()
    }

    /// The receive buffer, for taking a received message out without a copy.
    pub fn rx_buffer_mut(&mut self) -> &mut R {
        &mut self.rx
    }

    /// The send buffer, for releasing the memory of a large message once it is sent.
    ///
    /// It holds the message in flight: change it only while [`Connection::can_send`] is true.
    ///
    /// With a `VecBuffer` (feature `alloc`), replacing it with a new one frees the memory:
    /// ```
    /// use tinyproto_core::buffer::Buffer;
    /// use tinyproto_core::connection::Connection;
    /// let buf = || heapless::Vec::<u8, 64>::new();
    /// let mut conn = Connection::new(buf(), buf());
    /// conn.tx_buffer_mut().set(b"kept from the last send").unwrap();
    /// conn.tx_buffer_mut().clear();
    /// assert!(conn.tx_buffer_mut().as_slice().is_empty());
    /// ```
    pub fn tx_buffer_mut(&mut self) -> &mut T {
        &mut self.tx
    }

    /// Starts over for a new transport with the same buffers, plugins and timeouts: a fresh
    /// session (init byte queued, receive limit from `rx`), empty buffers, no timer running.
    ///
    /// This is how a fixed pool of connections is re-armed without an allocator.
    ///
    /// ```
    /// use tinyproto_core::connection::Connection;
    /// use tinyproto_core::session::Phase;
    /// let mut conn = Connection::new(heapless::Vec::<u8, 8>::new(), heapless::Vec::<u8, 8>::new());
    /// conn.close();
    /// conn.reset();
    /// assert_eq!(conn.session().phase(), Phase::Handshake);
    /// assert_eq!(conn.session().pending_output(), &[0xff]);
    /// ```
    pub fn reset(&mut self) {
        let limit = u32::try_from(self.rx.limit()).unwrap_or(u32::MAX);
        self.kernel = Kernel::default();
        self.session = Session::new(limit);
        self.rx.clear();
        self.tx.clear();
        self.last_progress = None;
        self.probe_at = None;
        self.again = false;
    }

    /// Closes the connection's protocol state (the transport is the caller's to close).
    pub fn close(&mut self) {
        self.session.close();
    }

    /// When to poll again at the latest (a time in the caller's milliseconds), or `None` when
    /// only new input or a new send can change anything.
    ///
    /// While the transport takes none of the bytes we owe, that is every
    /// `timeout /` [`PROBES`] until the deadline (see [`PROBES`]).
    #[inline]
    pub fn poll_at(&self) -> Option<u64> {
        let last = self.last_progress?;
        if self.again {
            return Some(last);
        }
        let limit = self.timeouts.for_session(&self.session)?;
        // The first moment past the limit: a poll at the limit itself would find nothing due.
        let deadline = last.saturating_add(u64::from(limit)).saturating_add(1);
        Some(self.probe_at.map_or(deadline, |probe| probe.min(deadline)))
    }

    /// Moves every byte the transport takes or gives now (up to [`POLL_BUDGET`]) and returns
    /// at the first event.
    ///
    /// Every [`Event`] leaves the connection usable (a refused or rejected message included);
    /// an [`Error`] means it is over: the session is closed, and the caller closes `io`.
    pub fn poll<I: Transport + ?Sized>(
        &mut self,
        io: &mut I,
        now: u64,
    ) -> Result<Option<Event>, Error<I::Error>> {
        self.last_progress.get_or_insert(now);
        self.again = false;
        self.probe_at = None;
        let mut moved = 0;
        loop {
            let outgoing = Outgoing::Slice(self.tx.as_slice());
            let result = step(
                io,
                &mut self.kernel,
                &mut self.session,
                &mut self.rx,
                outgoing,
            );
            let event = match result {
                Ok(None) => break,
                Ok(Some(Step::Moved(n))) => {
                    self.last_progress = Some(now);
                    moved += n;
                    if moved >= POLL_BUDGET {
                        self.again = true;
                        return Ok(None);
                    }
                    continue;
                }
                Ok(Some(Step::Event(event))) => event,
                Err(e) => {
                    self.session.close();
                    return Err(e);
                }
            };
            self.last_progress = Some(now);
            let Some(reported) = self.on_event(event) else {
                // The next step writes what is owed (the `0xff` of a header), before it reads.
                continue;
            };
            // An answer may still be owed (the `0x00` of a refusal, the `0xff` of an empty
            // message): write it now if the transport takes it, so the peer is not kept
            // waiting while the caller handles the event. What the transport does not take
            // goes out on a later poll (a send queues behind it); a write error is left for
            // the next poll to report, and so is the flush of a transport that buffers (the
            // first thing the next poll does).
            while !self.session.pending_output().is_empty() {
                let outgoing = Outgoing::Slice(self.tx.as_slice());
                match step(
                    io,
                    &mut self.kernel,
                    &mut self.session,
                    &mut self.rx,
                    outgoing,
                ) {
                    Ok(Some(Step::Moved(_))) => {}
                    _ => break,
                }
            }
            return Ok(Some(reported));
        }
        // Progress in this poll (bytes moved or an event, which set `last_progress` to `now`)
        // restarts the clock; only a peer silent since `last_progress` times out.
        let last = self.last_progress.unwrap_or(now);
        match self.timeouts.for_session(&self.session) {
            Some(limit) if now.saturating_sub(last) > u64::from(limit) => {
                let phase = self.session.phase();
                self.session.close();
                Err(Error::Timeout { phase })
            }
            Some(limit) => {
                let owed =
                    !self.session.pending_output().is_empty() || self.session.payload_to_send() > 0;
                let every = u64::from((limit / PROBES).max(1));
                self.probe_at = owed.then(|| now.saturating_add(every));
                Ok(None)
            }
            None => Ok(None),
        }
    }

    fn on_event(&mut self, event: SessionEvent) -> Option<Event> {
        use SessionEvent as S;
        Some(match event {
            S::HandshakeDone => Event::HandshakeDone,
            S::Received => match self.plugins.receive(&mut self.rx) {
                Ok(()) => Event::Received,
                Err(e) => Event::Discarded(e),
            },
            S::Sent => Event::Sent,
            S::Refused { len } => Event::Refused {
                len,
                limit: self.session.max_recv(),
            },
            S::Rejected { len } => Event::Rejected { len },
            S::Incoming { .. } | S::Accepted { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer's bytes, all available at once; our writes are collected, up to `room`.
    struct Script {
        input: &'static [u8],
        output: heapless::Vec<u8, 64>,
        reads: usize,
    }

    impl Transport for Script {
        type Error = core::convert::Infallible;
        fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
            if self.input.is_empty() {
                return Ok(None);
            }
            self.reads += 1;
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(Some(n))
        }
        fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
            let n = buf.len().min(self.output.capacity() - self.output.len());
            if n == 0 {
                return Ok(None);
            }
            self.output.extend_from_slice(&buf[..n]).unwrap();
            Ok(Some(n))
        }
    }

    /// A [`Script`] that counts its flushes and says whether it buffers writes.
    struct Flushing {
        script: Script,
        buffers: bool,
        flushes: usize,
    }

    impl Transport for Flushing {
        type Error = core::convert::Infallible;
        fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
            self.script.read(buf)
        }
        fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
            self.script.write(buf)
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            self.flushes += 1;
            Ok(())
        }
        fn buffers_writes(&self) -> bool {
            self.buffers
        }
    }

    #[test]
    fn a_transport_that_does_not_buffer_is_never_flushed_and_gets_the_same_bytes() {
        let run = |buffers| {
            // Init byte, then "go ahead" for our message.
            let script = Script {
                input: &[0xff, 0xff],
                output: heapless::Vec::new(),
                reads: 0,
            };
            let mut io = Flushing {
                script,
                buffers,
                flushes: 0,
            };
            let buf = || heapless::Vec::<u8, 8>::new();
            let mut conn = Connection::new(buf(), buf());
            assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
            conn.send(b"hi").unwrap();
            assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::Sent)));
            assert_eq!(conn.poll(&mut io, 0), Ok(None));
            (io.script.output, io.flushes)
        };
        let (buffered, flushes) = run(true);
        assert_eq!(buffered.as_slice(), &[0xff, 0, 0, 0, 2, b'h', b'i']);
        assert!(flushes >= 2, "after the header and the payload: {flushes}");
        assert_eq!(run(false), (buffered, 0));
    }

    #[test]
    fn answer_to_an_empty_message_or_a_refusal_is_written_before_the_event_returns() {
        // Init byte, an empty message, then a header above our 8-byte limit.
        let mut io = Script {
            input: &[0xff, 0, 0, 0, 0, 0, 0, 0, 9],
            output: heapless::Vec::new(),
            reads: 0,
        };
        let buf = || heapless::Vec::<u8, 8>::new();
        let mut conn = Connection::new(buf(), buf());
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::Received)));
        assert_eq!(conn.message(), b"");
        // An echo server answers at once: the `0xff` is already out, so the send is accepted.
        assert!(conn.can_send());
        assert_eq!(io.output.as_slice(), &[0xff, 0xff]);
        assert_eq!(
            conn.poll(&mut io, 0),
            Ok(Some(Event::Refused { len: 9, limit: 8 }))
        );
        assert!(conn.can_send());
        assert_eq!(io.output.as_slice(), &[0xff, 0xff, 0x00]);
        assert_eq!(
            conn.poll_at(),
            None,
            "nothing owed: no need to poll again at once"
        );
    }

    #[test]
    fn a_header_after_a_long_idle_time_is_not_a_stall() {
        // Idle far longer than the stall limit, then a header arrives and is answered; the
        // payload is not there yet. That is progress, not a stall.
        let mut io = Script {
            input: &[0xff],
            output: heapless::Vec::new(),
            reads: 0,
        };
        let buf = || heapless::Vec::<u8, 8>::new();
        let mut conn = Connection::new(buf(), buf());
        conn.set_timeouts(Timeouts::new().stall(300));
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
        io.input = &[0, 0, 0, 2];
        assert_eq!(conn.poll(&mut io, 10_000), Ok(None));
        assert_eq!(
            conn.poll_at(),
            Some(10_301),
            "the first moment past the limit"
        );
        assert_eq!(conn.poll(&mut io, 10_300), Ok(None));
        assert_eq!(
            conn.poll(&mut io, 10_301),
            Err(Error::Timeout {
                phase: Phase::ReceivingPayload
            })
        );
    }

    #[test]
    fn an_owed_answer_the_peer_does_not_read_is_a_stall_not_a_spin() {
        // The peer sends an empty message but reads nothing after its init byte: our `0xff`
        // cannot be written. The send of a reply is still accepted (it queues behind), the
        // connection asks for a poll only at the stall limit, and then times out.
        let mut io = Script {
            input: &[0xff, 0, 0, 0, 0],
            output: heapless::Vec::new(),
            reads: 0,
        };
        io.output.extend_from_slice(&[0; 63]).unwrap();
        let buf = || heapless::Vec::<u8, 8>::new();
        let mut conn = Connection::new(buf(), buf());
        conn.set_timeouts(Timeouts::new().stall(300));
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::Received)));
        assert_eq!(conn.session().pending_output(), &[0xff]);
        conn.send(b"reply").unwrap();
        assert_eq!(conn.poll(&mut io, 100), Ok(None));
        assert_eq!(
            conn.poll_at(),
            Some(100 + 300 / u64::from(PROBES)),
            "no busy re-poll while the peer reads nothing: a probe later"
        );
        assert_eq!(
            conn.poll(&mut io, 301),
            Err(Error::Timeout {
                phase: Phase::Status
            })
        );
    }

    #[test]
    fn room_found_only_when_we_look_does_not_restart_the_stall() {
        // We send a 60-byte message; the peer takes our header and the first 8 payload bytes,
        // makes room for 4 more at t = 5 (a socket does not announce so little room: we find
        // it only by writing), then reads nothing more. The stall is counted from the last
        // room found, which probing finds at most `300 / PROBES` late.
        let mut io = Script {
            input: &[0xff, 0xff],
            output: heapless::Vec::new(),
            reads: 0,
        };
        io.output.extend_from_slice(&[0; 64 - 1 - 4 - 8]).unwrap();
        let buf = || heapless::Vec::<u8, 64>::new();
        let mut conn = Connection::new(buf(), buf());
        conn.set_timeouts(Timeouts::new().stall(300));
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
        conn.send(&[1; 60]).unwrap();
        assert_eq!(conn.poll(&mut io, 0), Ok(None));
        assert_eq!(conn.session().phase(), Phase::SendingPayload);
        let probe = u64::from(300 / PROBES);
        let mut made_room = false;
        let timed_out_at = loop {
            let now = conn.poll_at().expect("a deadline while sending");
            assert!(now <= 5 + probe + 300 + 1, "still open at {now}");
            if now >= 5 && !made_room {
                made_room = true;
                io.output.truncate(io.output.len() - 4);
            }
            match conn.poll(&mut io, now) {
                Ok(None) => continue,
                Err(Error::Timeout { phase }) => break (now, phase),
                other => panic!("{other:?} at {now}"),
            }
        };
        assert!(made_room);
        // The room made at 5 is found by the first probe (at `probe`); the stall ends just
        // past 300 after that: within the limit and one probe of the last progress.
        assert_eq!(timed_out_at, (probe + 300 + 1, Phase::SendingPayload));
    }

    #[test]
    fn a_payload_is_read_straight_into_memory_the_buffer_has_ready() {
        const LEN: usize = 40_000;
        const fn input() -> [u8; 5 + LEN] {
            let mut bytes = [7u8; 5 + LEN];
            let header = (LEN as u32).to_be_bytes();
            bytes[0] = 0xff;
            (bytes[1], bytes[2], bytes[3], bytes[4]) = (header[0], header[1], header[2], header[3]);
            bytes
        }
        static INPUT: [u8; 5 + LEN] = input();
        let mut io = Script {
            input: &INPUT,
            output: heapless::Vec::new(),
            reads: 0,
        };
        let (mut rx, mut tx) = ([0u8; LEN], [0u8; 8]);
        let mut conn = Connection::new(
            crate::buffer::SliceBuffer::new(&mut rx),
            crate::buffer::SliceBuffer::new(&mut tx),
        );
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::HandshakeDone)));
        io.reads = 0;
        assert_eq!(conn.poll(&mut io, 0), Ok(Some(Event::Received)));
        assert_eq!(conn.message(), &INPUT[5..]);
        assert_eq!(
            io.reads, 2,
            "the header, then the whole payload in one read"
        );
    }
}
