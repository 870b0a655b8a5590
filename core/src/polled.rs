//! The polled, non-blocking driver over `embedded-io`'s `ReadReady`/`WriteReady`.

use crate::buffer::Buffer;
use crate::connection::{Connection, Event, Timeouts};
use crate::error::{Error, SendError};
use crate::plugin::Plugins;
use crate::session::Session;
use crate::transport::Transport;
use embedded_io::{Read, ReadReady, Write, WriteReady};

/// A connection over an `embedded-io` transport that is polled from a main loop: it reads only
/// when `read_ready()` and writes only when `write_ready()`, so [`PolledConnection::poll`]
/// never blocks.
///
/// ```
/// use std::collections::VecDeque;
/// use tinyproto_core::{PolledConnection, connection::Event};
///
/// // `VecDeque<u8>` is an embedded-io pipe: its front is read, its back is written.
/// let mut wire: VecDeque<u8> = [0xff, 0xff].into_iter().collect(); // peer's init, "go ahead"
/// let mut conn = PolledConnection::new(&mut wire, heapless::Vec::<u8, 32>::new(),
///                                      heapless::Vec::<u8, 32>::new());
/// assert_eq!(conn.poll(0), Ok(Some(Event::HandshakeDone)));
/// conn.send(b"ping").unwrap();
/// assert_eq!(conn.poll(1), Ok(Some(Event::Sent)));
/// let wire = conn.into_inner();
/// assert_eq!(wire.iter().copied().collect::<Vec<u8>>(), [0xff, 0, 0, 0, 4, b'p', b'i', b'n', b'g']);
/// ```
#[derive(Debug)]
pub struct PolledConnection<I, R, T = R, P = ()> {
    io: I,
    conn: Connection<R, T, P>,
}

impl<I, R: Buffer, T: Buffer> PolledConnection<I, R, T> {
    /// A connection over `io`: `rx` receives messages, `tx` holds the one being sent.
    pub fn new(io: I, rx: R, tx: T) -> Self {
        Self {
            io,
            conn: Connection::new(rx, tx),
        }
    }
}

impl<I, R: Buffer, T: Buffer, P: Plugins> PolledConnection<I, R, T, P> {
    /// A connection whose messages pass through `plugins`.
    pub fn with_plugins(io: I, rx: R, tx: T, plugins: P) -> Self {
        Self {
            io,
            conn: Connection::with_plugins(rx, tx, plugins),
        }
    }

    /// Sets the timeouts (measured in the milliseconds passed to `poll`).
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.conn.set_timeouts(timeouts);
    }

    /// Queues a message; see [`Connection::send`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.conn.send(msg)
    }

    /// Whether [`PolledConnection::send`] would be accepted now.
    pub fn can_send(&self) -> bool {
        self.conn.can_send()
    }

    /// The last message received, after [`Event::Received`].
    pub fn message(&self) -> &[u8] {
        self.conn.message()
    }

    /// When to poll again at the latest; see [`Connection::poll_at`].
    pub fn poll_at(&self) -> Option<u64> {
        self.conn.poll_at()
    }

    /// The state machine, for inspection.
    pub fn session(&self) -> &Session {
        self.conn.session()
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> I {
        self.io
    }
}

impl<I, R, T, P> PolledConnection<I, R, T, P>
where
    I: Read + Write + ReadReady + WriteReady,
    R: Buffer,
    T: Buffer,
    P: Plugins,
{
    /// Does what can be done without blocking and reports the first event; see
    /// [`Connection::poll`] (events are what the connection survives, errors end it).
    pub fn poll(&mut self, now: u64) -> Result<Option<Event>, Error<I::Error>> {
        self.conn.poll(&mut Ready(&mut self.io), now)
    }
}

/// Adapts `embedded-io` readiness to [`Transport`].
struct Ready<'a, T>(&'a mut T);

impl<T: Read + Write + ReadReady + WriteReady> Transport for Ready<'_, T> {
    type Error = T::Error;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        if !self.0.read_ready()? {
            return Ok(None);
        }
        self.0.read(buf).map(Some)
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        if !self.0.write_ready()? {
            return Ok(None);
        }
        self.0.write(buf).map(Some)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush()
    }
}
