//! A plain blocking connection for scripts and tests: `transmit`, then `receive`.

use crate::client::connect_stream;
use crate::config::ConnSettings;
use crate::entry::{shrink_tx, ProtoConnection};
use crate::error::{Error, StartError};
use crate::transport::SocketIo;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::session::Phase;
use tinyproto_core::wire::MSG_MAX_SIZE;

/// Configures a [`TcpConnection`].
pub struct TcpConnectionBuilder {
    settings: ConnSettings,
}

impl TcpConnectionBuilder {
    conn_settings!(settings);

    /// Connects (host names resolved; each address tried within the connect timeout) and
    /// completes the init handshake.
    pub fn connect(
        self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
    ) -> Result<TcpConnection, StartError> {
        let stream = connect_stream(addr, self.settings.timeouts.connect)?;
        stream.set_nonblocking(true)?;
        if self.settings.nodelay {
            stream.set_nodelay(true)?;
        }
        let peer = stream.peer_addr()?;
        let mut stream = mio::net::TcpStream::from_std(stream);
        let poll = Poll::new()?;
        poll.registry().register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut conn = Connection::with_plugins(
            VecBuffer::new(self.settings.max_message_size),
            VecBuffer::new(MSG_MAX_SIZE as usize),
            self.settings.plugins(),
        );
        conn.set_timeouts(self.settings.timeouts.core());
        let mut tcp = TcpConnection {
            stream,
            poll,
            events: Events::with_capacity(4),
            conn,
            start: Instant::now(),
            peer,
        };
        match tcp.run_until(None, Event::HandshakeDone) {
            Ok(()) => Ok(tcp),
            Err(e) => Err(StartError::Handshake(e.into())),
        }
    }
}

/// One blocking tinyproto connection, the way a script uses Python's `transmit()` and
/// `receive()` (without a connection thread).
///
/// The protocol timeouts ([`Timeouts`](crate::Timeouts)) apply: handshake, status byte, and a
/// header or payload that stalls. Waiting for a message has no limit unless you use
/// [`TcpConnection::receive_timeout`].
///
/// ```no_run
/// use tinyproto_std::TcpConnection;
/// let mut conn = TcpConnection::connect("localhost:9123")?;
/// conn.transmit(b"hello")?;
/// println!("Response from server: {}", String::from_utf8_lossy(&conn.receive()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpConnection {
    stream: mio::net::TcpStream,
    poll: Poll,
    events: Events,
    conn: ProtoConnection,
    start: Instant,
    peer: SocketAddr,
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

    /// Sends one message and returns once it is written. [`Error::Rejected`] means the peer
    /// refused its size; nothing was sent and the connection stays usable.
    pub fn transmit(&mut self, msg: &[u8]) -> Result<(), Error> {
        // An answer we still owe (the `0x00` of a refusal) goes out first.
        while !self.conn.session().pending_output().is_empty() {
            let now = self.now();
            self.conn
                .poll(&mut SocketIo::new(&mut self.stream, false), now)?;
            if !self.conn.session().pending_output().is_empty() {
                self.wait(None)?;
            }
        }
        self.conn.send(msg)?;
        let result = self.run_until(None, Event::Sent);
        shrink_tx(&mut self.conn);
        result
    }

    /// Waits for the next message. [`Error::TooLarge`] means the peer announced more than
    /// [`max_message_size`](TcpConnectionBuilder::max_message_size): we answered `0x00` and
    /// the connection stays usable. [`Error::Closed`] means the peer closed cleanly.
    pub fn receive(&mut self) -> Result<Vec<u8>, Error> {
        self.run_until(None, Event::Received)?;
        Ok(self.conn.rx_buffer_mut().take())
    }

    /// [`TcpConnection::receive`] with a time limit: `Ok(None)` when no message began to
    /// arrive in time (the connection stays usable).
    pub fn receive_timeout(&mut self, limit: Duration) -> Result<Option<Vec<u8>>, Error> {
        match self.run_until(Some(Instant::now() + limit), Event::Received) {
            Ok(()) => Ok(Some(self.conn.rx_buffer_mut().take())),
            Err(Error::Transport(e)) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Polls the protocol until it reports `want`, waiting for readiness in between. A
    /// `deadline` counts only between messages: a message that began arriving is finished
    /// (within the stall timeout).
    fn run_until(&mut self, deadline: Option<Instant>, want: Event) -> Result<(), Error> {
        loop {
            let now = self.now();
            match self
                .conn
                .poll(&mut SocketIo::new(&mut self.stream, true), now)?
            {
                Some(event) if event == want => return Ok(()),
                Some(_) => continue,
                None => {}
            }
            let between_messages = self.conn.session().phase() == Phase::Idle;
            if deadline.is_some_and(|d| between_messages && Instant::now() >= d) {
                return Err(Error::Transport(io::ErrorKind::TimedOut.into()));
            }
            let protocol = self
                .conn
                .poll_at()
                .map(|at| self.start + Duration::from_millis(at));
            let wake = match (protocol, deadline) {
                (Some(p), Some(d)) => Some(p.min(d)),
                (p, d) => p.or(d),
            };
            self.wait(wake)?;
        }
    }

    /// Waits until the socket is ready or `until` passes.
    fn wait(&mut self, until: Option<Instant>) -> Result<(), Error> {
        let timeout = until.map(|u| u.saturating_duration_since(Instant::now()));
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(Error::Transport(e)),
            _ => Ok(()),
        }
    }
}
