//! The server: a listening port served by a fixed pool of sockets.

use crate::config::Config;
use crate::handler::{Control, Handler};
use crate::pool::{arm, closed_or_aborted, Extra, Pool, Slot, Status};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, ListenError, State as TcpState};
use smoltcp::time::Instant;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::wire::SC_CONLIMIT;

/// A tinyproto server on a smoltcp interface (Python's `TinyProtoServer`).
///
/// Every free socket of the pool listens on the port, so up to `N` connections are served at
/// once and up to `N` connection attempts can be in progress. With a
/// [limit socket](Server::with_limit_socket), a peer that arrives while all `N` are busy is
/// answered `0xfe` (connection limit) and closed, as the protocol asks; without one, smoltcp
/// resets it. A slot whose connection ended is re-armed (listens again) once its socket has
/// finished closing, or after [`Config::linger`].
///
/// Call [`Server::poll`] after every `Interface::poll`.
#[derive(Debug)]
pub struct Server<B, P, const N: usize> {
    pool: Pool<B, P, N>,
    listener: Listener,
}

/// What a server adds to the pool: the port, and the socket above the limit.
#[derive(Debug)]
struct Listener {
    port: u16,
    limit: Option<LimitSocket>,
}

/// The extra socket that answers `0xfe` when the pool is exhausted.
#[derive(Debug)]
struct LimitSocket {
    handle: SocketHandle,
    state: LimitState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LimitState {
    Idle,
    Listening,
    Closing { since: u64 },
}

impl<B: Buffer, P: Plugins, const N: usize> Server<B, P, N> {
    /// A server on `port` (any local address) with the given slots. The sockets are
    /// (re)armed on the first poll; sockets that are open then are aborted.
    ///
    /// Fails with [`ListenError::Unaddressable`] for port 0.
    pub fn new(port: u16, slots: [Slot<B, P>; N], config: Config) -> Result<Self, ListenError> {
        if port == 0 {
            return Err(ListenError::Unaddressable);
        }
        Ok(Self {
            pool: Pool::new(slots, config),
            listener: Listener { port, limit: None },
        })
    }

    /// Adds the socket that answers `0xfe` to peers above the connection limit `N`. Its
    /// buffers may be tiny (one byte to send).
    pub fn with_limit_socket(mut self, handle: SocketHandle) -> Self {
        self.listener.limit = Some(LimitSocket {
            handle,
            state: LimitState::Idle,
        });
        self
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.listener.port
    }

    /// The connections and the stop switch, as the hooks see them: to transmit on a
    /// connection or shut it down, count connections or stop the server between polls.
    pub fn control(&mut self) -> Control<'_> {
        self.pool.control()
    }

    /// Drives every connection: accepts, handshakes, moves messages, calls the hooks, closes
    /// and re-arms sockets. Does what can be done without blocking and says when to come back.
    pub fn poll<H: Handler + ?Sized>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        handler: &mut H,
    ) -> Status {
        self.pool.poll(now, sockets, &mut self.listener, handler)
    }
}

impl Extra for Listener {
    fn listen_port(&self) -> Option<u16> {
        Some(self.port)
    }

    fn closed(&self) -> bool {
        self.limit
            .as_ref()
            .is_none_or(|l| l.state == LimitState::Idle)
    }

    fn poll_at(&self, config: &Config) -> Option<u64> {
        match self.limit.as_ref()?.state {
            LimitState::Closing { since } => {
                Some(since.saturating_add(config.linger.total_millis()))
            }
            _ => None,
        }
    }

    fn step<H: Handler + ?Sized>(
        &mut self,
        wanted: bool,
        config: &Config,
        now: u64,
        sockets: &mut SocketSet<'_>,
        handler: &mut H,
    ) {
        let Some(limit) = self.limit.as_mut() else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(limit.handle);
        match limit.state {
            LimitState::Idle => {
                if wanted && arm(socket, self.port, config) {
                    limit.state = LimitState::Listening;
                }
            }
            LimitState::Listening => match socket.state() {
                // Only while every slot is busy: a free slot must get the next peer.
                TcpState::Listen if !wanted => {
                    socket.abort();
                    limit.state = LimitState::Idle;
                }
                TcpState::Listen | TcpState::SynReceived => {}
                TcpState::Closed | TcpState::TimeWait => limit.state = LimitState::Idle,
                _ => {
                    // A peer above the limit: one byte 0xfe, then close (PROTOCOL.md, Q1), as
                    // the core's `refusal::Refusal` does over a `Transport`; smoltcp's socket
                    // takes the peer's bytes itself while it lingers. (Driving the `Refusal`
                    // here costs ~110 B of firmware `.text`.)
                    let remote = socket.remote_endpoint();
                    if socket.send_slice(&[SC_CONLIMIT]) == Ok(1) {
                        socket.close();
                    } else {
                        socket.abort();
                    }
                    limit.state = LimitState::Closing { since: now };
                    if let Some(remote) = remote {
                        handler.conn_refused(remote);
                    }
                }
            },
            LimitState::Closing { since } => {
                if closed_or_aborted(socket, since, now, config) {
                    limit.state = LimitState::Idle;
                }
            }
        }
    }
}

impl<B: Buffer + Default, P: Plugins + Default, const N: usize> Server<B, P, N> {
    /// A server on `port` whose slots use default buffers (e.g. `heapless::Vec<u8, M>`) and
    /// plugins, one per socket handle.
    pub fn with_sockets(
        port: u16,
        handles: [SocketHandle; N],
        config: Config,
    ) -> Result<Self, ListenError> {
        Self::new(port, handles.map(Slot::for_socket), config)
    }
}
