//! The server: a listener and up to `N` connections over a [`TcpFullStack`].

use super::{close_quietly, NalSocket, StackError, ZeroRead};
use crate::buffer::Buffer;
use crate::conn_id::ConnId;
use crate::connection::{Connection, Event};
use crate::error::{Error, SendError};
use crate::plugin::Plugins;
use crate::refusal::{self, Refusal, RefusalStep};
use core::fmt;
use core::net::SocketAddr;
use embedded_nal::{nb, TcpClientStack, TcpFullStack};

/// Why setting up the listener, or accepting a connection, failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerError<E> {
    /// The stack gave no socket for the listener.
    Socket(E),
    /// Binding the port failed (the socket is closed).
    Bind(E),
    /// Listening failed (the socket is closed).
    Listen(E),
    /// Accepting a connection failed. The listener stays open and the connections keep
    /// running; poll again (or close the server).
    Accept(E),
}

impl<E: fmt::Debug> fmt::Display for ServerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(e) => write!(f, "no socket from the stack: {e:?}"),
            Self::Bind(e) => write!(f, "bind failed: {e:?}"),
            Self::Listen(e) => write!(f, "listen failed: {e:?}"),
            Self::Accept(e) => write!(f, "accept failed: {e:?}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ServerError<E> {}

/// What [`NalServer::poll`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent<E> {
    /// A connection was accepted; its handshake runs on the next polls.
    Accepted {
        /// Its id.
        id: ConnId,
        /// The client's address.
        peer: SocketAddr,
    },
    /// A connection arrived while the server was full: it is answered `0xfe` (connection
    /// limit) and closed once the client closed or the linger time passed (see
    /// [`refusal`](crate::refusal)).
    Refused {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A connection reports an event, which it survives: the handshake is done, a message
    /// arrived (read it with [`ServerConnection::message`]), was refused or discarded, ours
    /// was sent or rejected.
    Connection {
        /// Which connection.
        id: ConnId,
        /// What happened.
        event: Event,
    },
    /// A connection ended and its socket is closed: [`Error::Closed`] when the client closed
    /// between messages, otherwise what went wrong.
    Closed {
        /// Which connection.
        id: ConnId,
        /// The client's address.
        peer: SocketAddr,
        /// Why.
        reason: Error<StackError<E>>,
    },
}

/// One connection of a [`NalServer`].
pub struct ServerConnection<S: TcpClientStack, R, T, P> {
    id: ConnId,
    peer: SocketAddr,
    socket: S::TcpSocket,
    conn: Connection<R, T, P>,
}

impl<S: TcpClientStack, R: Buffer, T: Buffer, P: Plugins> fmt::Debug
    for ServerConnection<S, R, T, P>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConnection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("phase", &self.conn.session().phase())
            .finish_non_exhaustive()
    }
}

impl<S: TcpClientStack, R: Buffer, T: Buffer, P: Plugins> ServerConnection<S, R, T, P> {
    /// Its id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The last message received, valid after [`Event::Received`] until the next poll.
    pub fn message(&self) -> &[u8] {
        self.conn.message()
    }

    /// Whether [`ServerConnection::send`] would be accepted now.
    pub fn can_send(&self) -> bool {
        self.conn.can_send()
    }

    /// Starts sending `msg`; the bytes move on the following [`NalServer::poll`]s and
    /// [`Event::Sent`] reports the end. See [`Connection::send`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.conn.send(msg)
    }

    /// The protocol state, buffers and plugins.
    pub fn connection(&self) -> &Connection<R, T, P> {
        &self.conn
    }

    /// The protocol state, for example to take a message out of its receive buffer.
    pub fn connection_mut(&mut self) -> &mut Connection<R, T, P> {
        &mut self.conn
    }
}

/// A tinyproto server over any embedded-nal [`TcpFullStack`], holding at most `N`
/// connections.
///
/// `make` builds the [`Connection`] (buffers, plugins, timeouts) of each accepted client. A
/// client beyond the limit is [refused](crate::refusal): answered the single byte `0xfe`,
/// then closed once it closed (or after [`NalServer::set_refusal_linger`]); a client of this
/// crate reports that as [`ProtocolError::ConnectionLimit`], a Python client as an init
/// error. (Python's own servers differ here: see quirk Q1 of the protocol notes.) At most
/// [`LINGERING_REFUSALS`] refusals linger at once; beyond, a refusal is closed right after
/// its `0xfe`.
///
/// Drive it with [`NalServer::poll`] until it returns `Ok(None)`, whenever the stack has news
/// or [`NalServer::poll_at`] comes. Each call reports one [`ServerEvent`]: pending clients are
/// accepted first (all of them, one per call, until the listener would block), then the
/// connections are polled in turn, starting after the last one that reported.
///
/// See the [module docs](super) for an example.
///
/// [`ProtocolError::ConnectionLimit`]: crate::session::ProtocolError::ConnectionLimit
pub struct NalServer<S: TcpFullStack, R, T, P, F, const N: usize> {
    listener: Option<S::TcpSocket>,
    /// Slot `i` holds connection `ConnId::new(i, generations[i] - 1)`, if any.
    conns: [Option<ServerConnection<S, R, T, P>>; N],
    generations: [u32; N],
    refusals: heapless::Vec<(S::TcpSocket, Refusal), LINGERING_REFUSALS>,
    linger_ms: u32,
    make: F,
    next_poll: usize,
    zero_read: ZeroRead,
}

impl<S: TcpFullStack, R: Buffer, T: Buffer, P: Plugins, F, const N: usize> fmt::Debug
    for NalServer<S, R, T, P, F, N>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NalServer")
            .field("listening", &self.listener.is_some())
            .field("connections", &self.conns)
            .field("limit", &N)
            .finish_non_exhaustive()
    }
}

impl<S, R, T, P, F, const N: usize> NalServer<S, R, T, P, F, N>
where
    S: TcpFullStack,
    R: Buffer,
    T: Buffer,
    P: Plugins,
    F: FnMut() -> Connection<R, T, P>,
{
    /// Listens on `port`; `make` builds each accepted client's [`Connection`].
    ///
    /// Which addresses the port is bound on is the stack's choice (`std-embedded-nal`: all
    /// of them, IPv6 and IPv4). On failure the socket is closed.
    pub fn bind(stack: &mut S, port: u16, make: F) -> Result<Self, ServerError<S::Error>> {
        let mut socket = stack.socket().map_err(ServerError::Socket)?;
        if let Err(e) = stack.bind(&mut socket, port) {
            close_quietly(stack, socket);
            return Err(ServerError::Bind(e));
        }
        if let Err(e) = stack.listen(&mut socket) {
            close_quietly(stack, socket);
            return Err(ServerError::Listen(e));
        }
        Ok(Self {
            listener: Some(socket),
            conns: [const { None }; N],
            generations: [0; N],
            refusals: heapless::Vec::new(),
            linger_ms: refusal::LINGER_MS,
            make,
            next_poll: 0,
            zero_read: ZeroRead::Eof,
        })
    }

    /// Sets what `Ok(0)` from the stack's `receive` means (default: end of stream).
    pub fn set_zero_read(&mut self, zero_read: ZeroRead) {
        self.zero_read = zero_read;
    }

    /// Sets how long a client refused at the limit may take to close after our `0xfe`
    /// (default [`refusal::LINGER_MS`]).
    pub fn set_refusal_linger(&mut self, ms: u32) {
        self.linger_ms = ms;
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.connections().count()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.connections().next().is_none()
    }

    /// The open connections.
    pub fn connections(&self) -> impl Iterator<Item = &ServerConnection<S, R, T, P>> {
        self.conns.iter().flatten()
    }

    /// The connections, mutable (for example to send to each).
    pub fn connections_mut(&mut self) -> impl Iterator<Item = &mut ServerConnection<S, R, T, P>> {
        self.conns.iter_mut().flatten()
    }

    /// The connection `id`, if it is open.
    pub fn connection_mut(&mut self, id: ConnId) -> Option<&mut ServerConnection<S, R, T, P>> {
        let slot = self.conns.get_mut(id.index())?;
        slot.as_mut().filter(|c| c.id == id)
    }

    /// When to poll again at the latest: the earliest [`Connection::poll_at`]. Poll also
    /// whenever the stack has news (a new client, bytes).
    pub fn poll_at(&self) -> Option<u64> {
        let conns = self.connections().filter_map(|c| c.conn.poll_at());
        let refusals = self.refusals.iter().filter_map(|(_, r)| r.poll_at());
        conns.chain(refusals).min()
    }

    /// Accepts one pending client or moves the connections' bytes, and reports the first
    /// event; `Ok(None)` when nothing more can happen now. Call it again until then.
    ///
    /// An accept failure is returned as [`ServerError::Accept`]; the server stays usable.
    pub fn poll(
        &mut self,
        stack: &mut S,
        now: u64,
    ) -> Result<Option<ServerEvent<S::Error>>, ServerError<S::Error>> {
        self.poll_refusals(stack, now);
        if let Some(event) = self.poll_accept(stack, now)? {
            return Ok(Some(event));
        }
        for _ in 0..N {
            let i = self.next_poll % N;
            self.next_poll = i + 1;
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            let mut io = NalSocket::new(stack, &mut c.socket).with_zero_read(self.zero_read);
            let id = c.id;
            match c.conn.poll(&mut io, now) {
                Ok(None) => continue,
                Ok(Some(event)) => return Ok(Some(ServerEvent::Connection { id, event })),
                Err(reason) => {
                    let peer = c.peer;
                    if let Some(c) = self.conns[i].take() {
                        close_quietly(stack, c.socket);
                    }
                    trace!("connection {} closed", id.index());
                    return Ok(Some(ServerEvent::Closed { id, peer, reason }));
                }
            }
        }
        Ok(None)
    }

    /// Closes connection `id`; `Ok(false)` when there is no such connection.
    pub fn close_connection(&mut self, stack: &mut S, id: ConnId) -> Result<bool, S::Error> {
        let Some(slot) = self.conns.get_mut(id.index()) else {
            return Ok(false);
        };
        match slot.take_if(|c| c.id == id) {
            Some(c) => stack.close(c.socket).map(|()| true),
            None => Ok(false),
        }
    }

    /// Closes every connection and the listener; returns the first close error, after
    /// closing everything else anyway.
    pub fn close(mut self, stack: &mut S) -> Result<(), S::Error> {
        let mut result = Ok(());
        let sockets = self
            .conns
            .iter_mut()
            .filter_map(|c| c.take())
            .map(|c| c.socket);
        let refused = self.refusals.drain(..).map(|(socket, _)| socket);
        for socket in sockets.chain(refused).chain(self.listener.take()) {
            if let Err(e) = stack.close(socket) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Moves the refusals on, and closes those that are done.
    fn poll_refusals(&mut self, stack: &mut S, now: u64) {
        let mut i = 0;
        while let Some((socket, refusal)) = self.refusals.get_mut(i) {
            let mut io = NalSocket::new(stack, socket).with_zero_read(self.zero_read);
            if let RefusalStep::Done { .. } = refusal.poll(&mut io, now) {
                let (socket, _) = self.refusals.swap_remove(i);
                close_quietly(stack, socket);
                trace!("a refused connection is closed");
            } else {
                i += 1;
            }
        }
    }

    /// Accepts one client, if one is waiting.
    fn poll_accept(
        &mut self,
        stack: &mut S,
        now: u64,
    ) -> Result<Option<ServerEvent<S::Error>>, ServerError<S::Error>> {
        let Some(listener) = self.listener.as_mut() else {
            return Ok(None);
        };
        let (socket, peer) = match stack.accept(listener) {
            Ok(accepted) => accepted,
            Err(nb::Error::WouldBlock) => return Ok(None),
            Err(nb::Error::Other(e)) => return Err(ServerError::Accept(e)),
        };
        let free = self.conns.iter().position(Option::is_none);
        let Some((i, index)) = free.and_then(|i| Some((i, u16::try_from(i).ok()?))) else {
            self.refuse(stack, socket, now);
            return Ok(Some(ServerEvent::Refused { peer }));
        };
        let id = ConnId::new(index, self.generations[i]);
        self.generations[i] = self.generations[i].wrapping_add(1);
        self.conns[i] = Some(ServerConnection {
            id,
            peer,
            socket,
            conn: (self.make)(),
        });
        trace!("connection {} accepted", i);
        Ok(Some(ServerEvent::Accepted { id, peer }))
    }

    /// Starts refusing a client beyond the limit: its `0xfe` goes out now if the stack takes
    /// it, and it lingers among the refusals until done. With no room for one more lingering
    /// refusal it is closed at once (best effort: a client whose init byte is still unread may
    /// then get a reset after the `0xfe`; Linux still delivers the `0xfe` first).
    fn refuse(&mut self, stack: &mut S, mut socket: S::TcpSocket, now: u64) {
        trace!("refusing a connection at the limit");
        let mut refusal = Refusal::new(now, self.linger_ms);
        let mut io = NalSocket::new(stack, &mut socket).with_zero_read(self.zero_read);
        if let RefusalStep::Done { .. } = refusal.poll(&mut io, now) {
            close_quietly(stack, socket);
        } else if let Err((socket, _)) = self.refusals.push((socket, refusal)) {
            close_quietly(stack, socket);
        }
    }
}

/// Most refused clients lingering at once (each holds a socket of the stack).
pub const LINGERING_REFUSALS: usize = 4;
