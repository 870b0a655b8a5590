//! A plain blocking connection for scripts and tests: `transmit`, then `receive`.
//!
//! The socket blocks, with `SO_RCVTIMEO`/`SO_SNDTIMEO` set from the protocol timeouts, so a
//! message costs the same system calls as a hand-written blocking program: no readiness
//! polling, no `EAGAIN` round trips.

use crate::config::{millis, ConnSettings};
use crate::dial::connect_stream;
use crate::error::{Error, StartError, TransmitError};
use crate::message::Message;
use crate::protocol::{protocol, shrink_tx, ProtoConnection};
use crate::spares::Spares;
use crate::spin::{Spinner, Spinning};
use crate::transport::SocketIo;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use tinyproto_core::connection::{Event, Received, Sent, Timeouts};
use tinyproto_core::session::Phase;

/// Configures a [`TcpConnection`].
pub struct TcpConnectionBuilder {
    settings: ConnSettings,
}

impl TcpConnectionBuilder {
    conn_settings!(settings);
    connect_timeout!(settings);

    /// Connects (host names resolved; each address tried within the connect timeout) and
    /// completes the init handshake.
    pub fn connect(
        self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
    ) -> Result<TcpConnection, StartError> {
        let stream = connect_stream(addr, self.settings.connect)?;
        TcpConnection::over(stream, &self.settings)
    }
}

impl TcpConnection {
    /// Completes the init handshake over a connected socket.
    fn over(stream: TcpStream, settings: &ConnSettings) -> Result<Self, StartError> {
        if settings.nodelay {
            stream.set_nodelay(true)?;
        }
        let timeouts = settings.timeouts;
        stream.set_write_timeout(timeouts.stall_ms().map(millis))?;
        let peer = stream.peer_addr()?;
        let spares = Spares::new(settings.reuse_limit);
        let conn = protocol(settings, &spares);
        let mut tcp = TcpConnection {
            stream,
            conn,
            start: Instant::now(),
            peer,
            slice: wait_slice(&timeouts),
            read_timeout: None,
            spinner: Spinner::new(settings.spin),
        };
        match tcp.run_until(None, |e| *e == Event::HandshakeDone) {
            Ok(_) => Ok(tcp),
            Err(e) => Err(StartError::Handshake(e.into())),
        }
    }
}

/// Whether `event` ends a wait for a message: one arrived, or was refused or discarded.
fn is_arrival(event: &Event) -> bool {
    matches!(
        event,
        Event::Received | Event::Refused { .. } | Event::Discarded(_)
    )
}

/// The longest single blocking read: the shortest protocol timeout (at least 1 ms: a zero
/// read timeout would block forever), so that every timeout is noticed in time; `None` (block
/// without limit) when there are none.
fn wait_slice(t: &Timeouts) -> Option<Duration> {
    let limits = [t.handshake_ms(), t.status_ms(), t.stall_ms()];
    let shortest = limits.into_iter().flatten().min().map(millis);
    shortest.map(|wait| wait.max(Duration::from_millis(1)))
}

/// One blocking tinyproto connection, the way a script uses Python's `transmit()` and
/// `receive()` (without a connection thread).
///
/// The protocol timeouts ([`Timeouts`](crate::Timeouts)) apply: handshake, status byte, and a
/// header or payload that stalls. Waiting for a message has no limit unless you use
/// [`TcpConnection::receive_timeout`].
///
/// ```no_run
/// use tinyproto_std::{Received, TcpConnection};
/// let mut conn = TcpConnection::connect("localhost:9123")?;
/// let _sent = conn.transmit(b"hello")?; // Sent::Written, or Sent::Rejected (too large)
/// if let Received::Message(reply) = conn.receive()? {
///     println!("Response from server: {}", String::from_utf8_lossy(&reply));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpConnection {
    stream: TcpStream,
    conn: ProtoConnection,
    start: Instant,
    peer: SocketAddr,
    /// The longest blocking read ([`wait_slice`]).
    slice: Option<Duration>,
    /// The socket's read timeout now (changed only when a wait needs another one).
    read_timeout: Option<Duration>,
    /// Spinning before each blocking read.
    spinner: Spinner,
}

impl TcpConnection {
    /// Connects with the default settings; see [`TcpConnectionBuilder::connect`].
    pub fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Self, StartError> {
        Self::builder().connect(addr)
    }

    /// A builder with the defaults.
    pub fn builder() -> TcpConnectionBuilder {
        TcpConnectionBuilder {
            settings: ConnSettings::default(),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sends one message and returns once it is written ([`Sent::Written`]), or the peer
    /// refused its size ([`Sent::Rejected`]; nothing was sent and the connection stays
    /// usable). [`TransmitError::Send`] means the send could not start.
    ///
    /// An answer still owed to the peer (the `0x00` of a refusal the socket could not take)
    /// goes out first; a peer that takes nothing fails with [`Error::Timeout`] after the
    /// stall timeout (the socket's write timeout, and the core's limit on an owed answer).
    ///
    /// A `Vec<u8>` is moved and sent without a copy; borrowed bytes are copied once.
    pub fn transmit(&mut self, msg: impl Into<Message>) -> Result<Sent, TransmitError> {
        if self.conn.can_send() {
            self.conn.tx_buffer_mut().load(msg.into());
        }
        if let Err(e) = self.conn.send_buffered() {
            shrink_tx(&mut self.conn);
            return Err(e.into());
        }
        let result = self.run_until(None, |e| matches!(e, Event::Sent | Event::Rejected { .. }));
        shrink_tx(&mut self.conn);
        Ok(match result? {
            Event::Rejected { len } => Sent::Rejected { len },
            _ => Sent::Written,
        })
    }

    /// Waits for the next message: [`Received::Message`], or [`Received::Refused`] when the
    /// peer announced more than
    /// [`max_message_size`](TcpConnectionBuilder::max_message_size) (we answered `0x00`), or
    /// [`Received::Discarded`] when a receive plugin refused it; the connection stays usable
    /// after each. [`Error::Closed`] means the peer closed cleanly.
    pub fn receive(&mut self) -> Result<Received<Vec<u8>>, Error> {
        let event = self.run_until(None, is_arrival)?;
        Ok(self.arrival(event))
    }

    /// [`TcpConnection::receive`] into the memory of `buf`: the message replaces its contents.
    /// Handing back the previous message this way lets the next one skip allocating and
    /// zero-filling its memory (up to 16 KiB of it always; 64 KiB and more up to the
    /// [`reuse_limit`](TcpConnectionBuilder::reuse_limit)). [`Received::Message`] says `buf`
    /// holds the message; otherwise, and on errors, `buf` is left empty.
    ///
    /// ```no_run
    /// # use tinyproto_std::TcpConnection;
    /// let mut conn = TcpConnection::connect("127.0.0.1:8888")?;
    /// let mut reply = Vec::new();
    /// for _ in 0..100 {
    ///     let _sent = conn.transmit(vec![0u8; 1 << 20])?;
    ///     let _received = conn.receive_into(&mut reply)?; // after the first, no new memory
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_into(&mut self, buf: &mut Vec<u8>) -> Result<Received<()>, Error> {
        self.conn.rx_buffer_mut().reuse(std::mem::take(buf));
        Ok(self.receive()?.map(|msg| *buf = msg))
    }

    /// [`TcpConnection::receive`] with a time limit: `Ok(None)` when no message began to
    /// arrive in time (the connection stays usable). A message that began arriving is
    /// finished (within the stall timeout).
    pub fn receive_timeout(&mut self, limit: Duration) -> Result<Option<Received<Vec<u8>>>, Error> {
        match self.run_until(Some(Instant::now() + limit), is_arrival) {
            Ok(event) => Ok(Some(self.arrival(event))),
            Err(Error::Transport(e)) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `at` on the protocol's clock: milliseconds since the connection started.
    fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// What [`is_arrival`] event `event` delivered.
    fn arrival(&mut self, event: Event) -> Received<Vec<u8>> {
        match event {
            Event::Refused { len, limit } => Received::Refused { len, limit },
            Event::Discarded(e) => Received::Discarded(e),
            _ => Received::Message(self.conn.rx_buffer_mut().take()),
        }
    }

    /// Polls the protocol over the blocking socket until it reports an event that `want`s.
    /// Each poll blocks in at most one read for [`TcpConnection::wait`]; a read that times
    /// out returns to the protocol, which decides whether its own timeout has passed.
    fn run_until(
        &mut self,
        deadline: Option<Instant>,
        want: impl Fn(&Event) -> bool,
    ) -> Result<Event, Error> {
        // Whether the protocol's next timeout cuts the wait short. Not before the first poll
        // of an operation (the protocol's clock restarts with its first bytes: until then,
        // `poll_at` may still count from the end of the last message), nor after a poll that
        // stopped at its byte budget (`poll_at` is then that poll's time, asking for another
        // poll at once, which the next read makes; the protocol's deadline is at least one
        // slice away).
        let mut protocol = false;
        loop {
            let deadline = deadline.filter(|_| self.conn.session().phase() == Phase::Idle);
            // One clock read serves the whole pass; none when nothing is timed (no protocol
            // timeout, no deadline): the start (0 on the protocol's clock) then stands for
            // every time, as nothing is ever due later than now.
            let (at, now) = if self.slice.is_some() || deadline.is_some() {
                let at = Instant::now();
                (at, self.millis(at))
            } else {
                (self.start, 0)
            };
            if deadline.is_some_and(|d| at >= d) {
                return Err(Error::Transport(io::ErrorKind::TimedOut.into()));
            }
            // The usual wait (no protocol timeout, no deadline to cut it short) is one slice.
            let timeout = if protocol || deadline.is_some() {
                self.wait(at, deadline, protocol)
            } else {
                self.slice
            };
            self.set_read_timeout(timeout)?;
            let mut stream = Spinning {
                socket: &self.stream,
                spinner: &mut self.spinner,
            };
            match self.conn.poll(&mut SocketIo::new(&mut stream, true), now)? {
                Some(event) if want(&event) => return Ok(event),
                _ => protocol = self.conn.poll_at() != Some(now),
            }
        }
    }

    /// How long the next read, starting `now`, may block: one [`wait_slice`], cut short by
    /// `deadline` and (with `protocol`) by the protocol's next timeout, and never zero (the
    /// socket would block forever).
    fn wait(&self, now: Instant, deadline: Option<Instant>, protocol: bool) -> Option<Duration> {
        let protocol = protocol
            .then(|| self.conn.poll_at())
            .flatten()
            .map(|at| (self.start + Duration::from_millis(at)).saturating_duration_since(now));
        let until_deadline = deadline.map(|d| d.saturating_duration_since(now));
        [self.slice, protocol, until_deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|wait| wait.max(Duration::from_millis(1)))
    }

    #[inline]
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        // The usual wait is one slice: no system call at all between messages.
        if timeout == self.read_timeout {
            return Ok(());
        }
        self.stream
            .set_read_timeout(timeout)
            .map_err(Error::Transport)?;
        self.read_timeout = timeout;
        Ok(())
    }
}
