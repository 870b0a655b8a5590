//! The client: one connection over a [`TcpClientStack`].

use super::{close_quietly, NalError, NalSocket, StackError, ZeroRead};
use crate::buffer::Buffer;
use crate::connection::{Connection, Event, Received, Sent};
use crate::error::{Error, SendError, TransmitError};
use crate::plugin::Plugins;
use crate::session::Phase;
use core::fmt;
use core::net::SocketAddr;
use embedded_nal::{nb, TcpClientStack, TcpError};

/// Why [`NalClient::connect`] or [`NalClient::start_connect`] failed. The socket, if one was
/// made, is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnectError<E> {
    /// The stack gave no socket (`socket()` failed, for example all sockets are in use).
    Socket(E),
    /// The stack failed the TCP connect (refused, unreachable, ...).
    Connect(E),
    /// The TCP connection was not up within the time limit.
    Timeout,
    /// TCP connected but the init handshake failed. The server's answer is in here:
    /// [`ProtocolError::ConnectionLimit`] for `0xfe` (a server of this crate at its limit),
    /// [`ProtocolError::InitRefused`] for `0x00` (a Python 2.0.1 server at its limit),
    /// [`ProtocolError::UnexpectedEof`] or [`Error::Transport`] when the server closed or
    /// reset instead, [`Error::Timeout`] when its init byte did not come in time.
    ///
    /// [`ProtocolError::ConnectionLimit`]: crate::session::ProtocolError::ConnectionLimit
    /// [`ProtocolError::InitRefused`]: crate::session::ProtocolError::InitRefused
    /// [`ProtocolError::UnexpectedEof`]: crate::session::ProtocolError::UnexpectedEof
    Handshake(Error<StackError<E>>),
}

impl<E: TcpError> fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(e) => write!(f, "no socket from the stack: {e:?}"),
            Self::Connect(e) => write!(f, "TCP connect failed: {e:?}"),
            Self::Timeout => f.write_str("TCP connect timed out"),
            Self::Handshake(e) => write!(f, "init handshake failed: {e}"),
        }
    }
}

impl<E: TcpError> core::error::Error for ConnectError<E> {}

/// A tinyproto client over any embedded-nal [`TcpClientStack`].
///
/// Build it with [`NalClient::connect`] (spins until the handshake is done) or
/// [`NalClient::start_connect`] (returns at once; [`NalClient::poll`] then drives the TCP
/// connect, the handshake and every message). The [`Connection`] you pass in brings the
/// buffers, plugins and timeouts.
///
/// Methods fall into the kinds of the core: getters ([`NalClient::remote`],
/// [`NalClient::is_open`], [`NalClient::message`], ...), mutators ([`NalClient::send`],
/// [`NalClient::close`]), and [`NalClient::poll`], which moves bytes and reports events; plus
/// the spinning conveniences [`NalClient::transmit`] and [`NalClient::receive`].
///
/// What the connection survives comes back as values ([`Event`], [`Sent`], [`Received`]);
/// after an [`Error`] the socket is already closed and every later call reports
/// [`Error::Closed`]. See the [module docs](super) for an example.
pub struct NalClient<S: TcpClientStack, R, T = R, P = ()> {
    socket: Option<S::TcpSocket>,
    /// While the TCP connect is pending: when it gives up.
    connect_deadline: Option<u64>,
    remote: SocketAddr,
    conn: Connection<R, T, P>,
    zero_read: ZeroRead,
}

impl<S: TcpClientStack, R: Buffer, T: Buffer, P: Plugins> fmt::Debug for NalClient<S, R, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NalClient")
            .field("remote", &self.remote)
            .field("open", &self.socket.is_some())
            .field("connect_deadline", &self.connect_deadline)
            .field("phase", &self.conn.session().phase())
            .finish_non_exhaustive()
    }
}

impl<S: TcpClientStack, R: Buffer, T: Buffer, P: Plugins> NalClient<S, R, T, P> {
    /// Opens a socket and starts connecting to `remote`, without waiting.
    ///
    /// `now` is the current time and `timeout_ms` the limit for the TCP connect (the init
    /// handshake then has the handshake limit of `conn`'s [`Timeouts`]). Drive the rest with
    /// [`NalClient::poll`]: it reports [`Event::HandshakeDone`] when messages may flow. A stack
    /// whose `connect` completes at once (like `std-embedded-nal`, which blocks in it) is
    /// connected when this returns.
    ///
    /// [`Timeouts`]: crate::connection::Timeouts
    pub fn start_connect(
        stack: &mut S,
        remote: SocketAddr,
        conn: Connection<R, T, P>,
        now: u64,
        timeout_ms: u32,
    ) -> Result<Self, ConnectError<S::Error>> {
        let socket = stack.socket().map_err(ConnectError::Socket)?;
        let mut client = Self {
            socket: Some(socket),
            connect_deadline: Some(now.saturating_add(u64::from(timeout_ms))),
            remote,
            conn,
            zero_read: ZeroRead::Eof,
        };
        match client.poll_tcp_connect(stack, now) {
            Ok(()) | Err(nb::Error::WouldBlock) => Ok(client),
            Err(nb::Error::Other(e)) => Err(e),
        }
    }

    /// Connects to `remote` and completes the init handshake, spinning on the stack until
    /// done or until `timeout_ms` have passed on `clock` (which covers both).
    ///
    /// A server at its connection limit is a [`ConnectError::Handshake`] error (see there).
    pub fn connect(
        stack: &mut S,
        remote: SocketAddr,
        conn: Connection<R, T, P>,
        clock: &mut impl FnMut() -> u64,
        timeout_ms: u32,
    ) -> Result<Self, ConnectError<S::Error>> {
        let start = clock();
        let deadline = start.saturating_add(u64::from(timeout_ms));
        let mut client = Self::start_connect(stack, remote, conn, start, timeout_ms)?;
        loop {
            match client.poll_tcp_connect(stack, clock()) {
                Ok(()) => break,
                Err(nb::Error::WouldBlock) => {}
                Err(nb::Error::Other(e)) => return Err(e),
            }
        }
        loop {
            let now = clock();
            match client.poll(stack, now) {
                Ok(Some(Event::HandshakeDone)) => return Ok(client),
                Ok(_) => {}
                // Fatal before the handshake is done: the socket is closed already.
                Err(e) => return Err(ConnectError::Handshake(e)),
            }
            if now > deadline {
                client.shutdown(stack);
                let phase = Phase::Handshake;
                return Err(ConnectError::Handshake(Error::Timeout { phase }));
            }
        }
    }

    /// Sets what `Ok(0)` from the stack's `receive` means (default: end of stream).
    pub fn set_zero_read(&mut self, zero_read: ZeroRead) {
        self.zero_read = zero_read;
    }

    /// The server's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the socket is open (connecting or connected); false after a fatal error.
    pub fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// Whether the TCP connect is still pending.
    pub fn is_connecting(&self) -> bool {
        self.connect_deadline.is_some()
    }

    /// The protocol state, buffers and plugins.
    pub fn connection(&self) -> &Connection<R, T, P> {
        &self.conn
    }

    /// The protocol state, for example to change its timeouts or take a message out of its
    /// receive buffer.
    pub fn connection_mut(&mut self) -> &mut Connection<R, T, P> {
        &mut self.conn
    }

    /// Whether [`NalClient::send`] would be accepted now (handshake done, nothing in flight).
    pub fn can_send(&self) -> bool {
        self.socket.is_some() && self.conn.can_send()
    }

    /// Starts sending `msg`; the bytes move on the following polls and [`Event::Sent`]
    /// reports the end. See [`Connection::send`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.conn.send(msg)
    }

    /// The last message received, valid after [`Event::Received`] until the next poll.
    pub fn message(&self) -> &[u8] {
        self.conn.message()
    }

    /// When to poll again at the latest (in the milliseconds passed to `poll`): the connect
    /// deadline while connecting, then [`Connection::poll_at`]. Poll also whenever the stack
    /// has news.
    pub fn poll_at(&self) -> Option<u64> {
        self.connect_deadline.or_else(|| self.conn.poll_at())
    }

    /// Moves whatever can move now without blocking and reports the first event: drives a
    /// pending TCP connect, then the handshake, then messages.
    ///
    /// Every [`Event`] leaves the connection usable (a refused or rejected message
    /// included). While connecting, a failed connect is [`Error::Transport`] and a missed
    /// connect deadline [`Error::Timeout`] in [`Phase::Handshake`]. Every error closes the
    /// socket.
    pub fn poll(&mut self, stack: &mut S, now: u64) -> Result<Option<Event>, NalError<S>> {
        if self.connect_deadline.is_some() {
            match self.poll_tcp_connect(stack, now) {
                Ok(()) => {}
                Err(nb::Error::WouldBlock) => return Ok(None),
                Err(nb::Error::Other(ConnectError::Connect(e) | ConnectError::Socket(e))) => {
                    return Err(Error::Transport(StackError(e)))
                }
                Err(nb::Error::Other(ConnectError::Handshake(e))) => return Err(e),
                Err(nb::Error::Other(ConnectError::Timeout)) => {
                    let phase = Phase::Handshake;
                    return Err(Error::Timeout { phase });
                }
            }
        }
        let Some(socket) = self.socket.as_mut() else {
            return Err(Error::Closed);
        };
        let mut io = NalSocket::new(stack, socket).with_zero_read(self.zero_read);
        let polled = self.conn.poll(&mut io, now);
        if polled.is_err() {
            self.shutdown(stack);
        }
        polled
    }

    /// Sends `msg` and spins on [`NalClient::poll`] until it is written, at most
    /// `timeout_ms` on `clock`. Waits first (within the same limit) for a pending connect and
    /// handshake, and for a message that is arriving to be complete (it is then left in
    /// [`NalClient::message`]).
    ///
    /// [`Sent::Rejected`] (the peer refused the size) leaves the connection usable.
    /// [`TransmitError::Send`] means the send could not start. A timeout leaves a message
    /// half done, so it closes the connection.
    pub fn transmit(
        &mut self,
        stack: &mut S,
        msg: &[u8],
        clock: &mut impl FnMut() -> u64,
        timeout_ms: u32,
    ) -> Result<Sent, TransmitError<StackError<S::Error>>> {
        let deadline = clock().saturating_add(u64::from(timeout_ms));
        // Wait for the connect and handshake, and for a message that is arriving.
        while !self.can_send() {
            let now = clock();
            self.poll(stack, now)?;
            self.check_deadline(stack, now, deadline)?;
        }
        self.send(msg)?;
        loop {
            let now = clock();
            match self.poll(stack, now)? {
                Some(Event::Sent) => return Ok(Sent::Written),
                Some(Event::Rejected { len }) => return Ok(Sent::Rejected { len }),
                _ => {}
            }
            self.check_deadline(stack, now, deadline)?;
        }
    }

    /// Spins on [`NalClient::poll`] until a message arrives and returns it (or what became
    /// of it: [`Received`]), or returns `Ok(None)` when none began to arrive within
    /// `timeout_ms` on `clock` (the connection is then still usable). Drives a pending
    /// connect and handshake first.
    ///
    /// [`Error::Closed`] is the peer's clean close. A timeout in the middle of a message
    /// closes the connection.
    pub fn receive(
        &mut self,
        stack: &mut S,
        clock: &mut impl FnMut() -> u64,
        timeout_ms: u32,
    ) -> Result<Option<Received<&[u8]>>, NalError<S>> {
        let deadline = clock().saturating_add(u64::from(timeout_ms));
        loop {
            let now = clock();
            match self.poll(stack, now)? {
                Some(Event::Received) => break,
                Some(Event::Refused { len, limit }) => {
                    return Ok(Some(Received::Refused { len, limit }))
                }
                Some(Event::Discarded(e)) => return Ok(Some(Received::Discarded(e))),
                _ => {}
            }
            if now > deadline && !self.is_connecting() && self.conn.session().is_idle() {
                return Ok(None);
            }
            self.check_deadline(stack, now, deadline)?;
        }
        Ok(Some(Received::Message(self.conn.message())))
    }

    /// Closes the socket (also while connecting). Does nothing when it is closed already.
    pub fn close(mut self, stack: &mut S) -> Result<(), S::Error> {
        self.conn.close();
        self.connect_deadline = None;
        match self.socket.take() {
            Some(socket) => stack.close(socket),
            None => Ok(()),
        }
    }

    /// One attempt at the TCP connect; `Ok` once connected (and from then on).
    fn poll_tcp_connect(
        &mut self,
        stack: &mut S,
        now: u64,
    ) -> nb::Result<(), ConnectError<S::Error>> {
        let Some(deadline) = self.connect_deadline else {
            return Ok(());
        };
        let Some(socket) = self.socket.as_mut() else {
            return Err(nb::Error::Other(ConnectError::Handshake(Error::Closed)));
        };
        match stack.connect(socket, self.remote) {
            Ok(()) => {
                trace!("TCP connected");
                self.connect_deadline = None;
                Ok(())
            }
            Err(nb::Error::WouldBlock) if now <= deadline => Err(nb::Error::WouldBlock),
            Err(nb::Error::WouldBlock) => {
                self.shutdown(stack);
                Err(nb::Error::Other(ConnectError::Timeout))
            }
            Err(nb::Error::Other(e)) => {
                self.shutdown(stack);
                Err(nb::Error::Other(ConnectError::Connect(e)))
            }
        }
    }

    /// Fails with a timeout (closing the connection) once `now` is past `deadline`.
    fn check_deadline(
        &mut self,
        stack: &mut S,
        now: u64,
        deadline: u64,
    ) -> Result<(), NalError<S>> {
        if now <= deadline {
            return Ok(());
        }
        let phase = self.conn.session().phase();
        self.shutdown(stack);
        Err(Error::Timeout { phase })
    }

    /// Closes the protocol state and the socket, quietly: the caller reports why.
    fn shutdown(&mut self, stack: &mut S) {
        self.conn.close();
        self.connect_deadline = None;
        if let Some(socket) = self.socket.take() {
            close_quietly(stack, socket);
        }
    }
}
