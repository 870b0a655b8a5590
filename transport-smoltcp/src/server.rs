//! The server: a listening port served by a fixed pool of sockets.

use crate::config::Config;
use crate::handler::{AsServer, Control, Handler, Hooks, ServerHooks};
use crate::pool::{arm, heard, release, Extra, Heard, Pool, Slot, Status};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, ListenError, State as TcpState};
use smoltcp::time::Instant;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::refusal::Refusal;

/// A tinyproto server on a smoltcp interface (Python's `TinyProtoServer`).
///
/// Every free socket of the pool listens on the port, so up to `N` connections are served at
/// once and up to `N` connection attempts can be in progress. With a
/// [limit socket](Server::with_limit_socket), a peer that arrives while all `N` are busy is
/// answered `0xfe` (connection limit) and closed, as the protocol asks; without one, smoltcp
/// resets it; the refusal (its answer, its linger of at most [`Config::linger`], then the
/// close) is the core's [`Refusal`]. A slot whose connection ended is re-armed (listens
/// again) once its socket has finished closing, or after [`Config::linger`].
///
/// `R` and `T` are a slot's receive and send buffers (they bound the messages received and
/// sent), `P` its plugins; [`Server::poll`] takes one value that is both the connections'
/// [`Handler`] and the [`ServerHooks`].
///
/// Call [`Server::poll`] after every `Interface::poll`.
#[derive(Debug)]
pub struct Server<R, T, P, const N: usize> {
    pool: Pool<R, T, P, N>,
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
    /// A peer above the limit, refused by the core's machine: `0xfe`, then the linger.
    Refusing(Refusal),
}

impl<R: Buffer, T: Buffer, P: Plugins, const N: usize> Server<R, T, P, N> {
    /// A server on `port` (any local address) with the given slots. The sockets are
    /// (re)armed on the first poll; sockets that are open then are aborted.
    ///
    /// Fails with [`ListenError::Unaddressable`] for port 0.
    pub fn new(port: u16, slots: [Slot<R, T, P>; N], config: Config) -> Result<Self, ListenError> {
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
    pub fn poll<H: Handler + ServerHooks + ?Sized>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        hooks: &mut H,
    ) -> Status {
        self.pool
            .poll::<AsServer, _, _>(now, sockets, &mut self.listener, hooks)
    }
}

impl Extra for Listener {
    fn listen_port(&self) -> Option<u16> {
        Some(self.port)
    }

    fn closed(&self) -> bool {
        self.limit
            .as_ref()
            .is_none_or(|l| matches!(l.state, LimitState::Idle))
    }

    fn poll_at(&self) -> Option<u64> {
        match &self.limit.as_ref()?.state {
            LimitState::Refusing(refusal) => refusal.poll_at(),
            _ => None,
        }
    }

    fn step<K, H: Hooks<K> + ?Sized>(
        &mut self,
        wanted: bool,
        config: &Config,
        now: u64,
        sockets: &mut SocketSet<'_>,
        hooks: &mut H,
    ) {
        let Some(limit) = self.limit.as_mut() else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(limit.handle);
        match &mut limit.state {
            LimitState::Idle => {
                if wanted && arm(socket, self.port, config) {
                    limit.state = LimitState::Listening;
                }
            }
            // Only while every slot is busy: a free slot must get the next peer.
            LimitState::Listening if !wanted && socket.state() == TcpState::Listen => {
                socket.abort();
                limit.state = LimitState::Idle;
            }
            LimitState::Listening => match heard(socket) {
                Heard::Nothing => {}
                Heard::Gone => limit.state = LimitState::Idle,
                Heard::Peer => {
                    // A peer above the limit (PROTOCOL.md, Q1).
                    limit.state = LimitState::Refusing(Refusal::new(now, config.linger_millis()));
                    if let Some(remote) = socket.remote_endpoint() {
                        hooks.refused(remote);
                    }
                }
            },
            LimitState::Refusing(refusal) => {
                // The core's machine on smoltcp's calls: the answer, then our FIN. smoltcp
                // closes without a reset even with the peer's bytes unread, so they stay in
                // the socket until the peer has closed too (or the linger ends).
                let answer = refusal.pending_output();
                if refusal.output_written(socket.send_slice(answer).unwrap_or(0)) {
                    socket.close();
                }
                if !socket.is_open() {
                    refusal.peer_closed();
                }
                refusal.check_deadline(now);
                if refusal.is_done() {
                    release(socket);
                    limit.state = LimitState::Idle;
                }
            }
        }
    }
}

impl<R: Buffer + Default, T: Buffer + Default, P: Plugins + Default, const N: usize>
    Server<R, T, P, N>
{
    /// A server on `port` whose slots use default buffers (e.g. `heapless::Vec<u8, M>` to
    /// receive and a smaller one to send) and plugins, one per socket handle.
    pub fn with_sockets(
        port: u16,
        handles: [SocketHandle; N],
        config: Config,
    ) -> Result<Self, ListenError> {
        Self::new(port, handles.map(Slot::for_socket), config)
    }
}
