//! The client: outgoing connections from a fixed pool of sockets.

use crate::config::Config;
use crate::error::ConnectError;
use crate::handler::{AsClient, ClientHooks, Control, Handler};
use crate::pool::{millis, Pool, Slot, Status};
use smoltcp::iface::{Context, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::ConnId;

/// A tinyproto client on a smoltcp interface (Python's `TinyProtoClient`): up to `N`
/// connections at once, each on its own socket. `R`, `T` and `P` are a slot's receive buffer,
/// send buffer and plugins; [`Client::poll`] takes one value that is both the connections'
/// [`Handler`] and the [`ClientHooks`].
///
/// A connection that fails to come up (refused, timed out, or refused by the server's
/// connection limit) ends with [`ClientHooks::conn_shutdown`] and its socket is free again: nothing
/// leaks. Call [`Client::poll`] after every `Interface::poll`.
#[derive(Debug)]
pub struct Client<R, T, P, const N: usize> {
    pool: Pool<R, T, P, N>,
    next_port: u16,
}

impl<R: Buffer, T: Buffer, P: Plugins, const N: usize> Client<R, T, P, N> {
    /// A client with the given slots.
    pub fn new(slots: [Slot<R, T, P>; N], config: Config) -> Self {
        let next_port = config.first_local_port.max(1);
        Self {
            pool: Pool::new(slots, config),
            next_port,
        }
    }

    /// Starts connecting to `remote` from a free socket (Python's `connect_to`). The TCP
    /// connect and the init handshake then proceed in [`Client::poll`];
    /// [`Handler::pre_loop`] reports success, [`ClientHooks::conn_shutdown`] failure.
    pub fn connect(
        &mut self,
        cx: &mut Context,
        sockets: &mut SocketSet<'_>,
        remote: impl Into<IpEndpoint>,
        now: Instant,
    ) -> Result<ConnId, ConnectError> {
        if self.pool.stop {
            return Err(ConnectError::Stopped);
        }
        let port = self.next_port;
        let first = self.pool.config.first_local_port.max(1);
        let config = self.pool.config;
        let slot = self.pool.free_slot().ok_or(ConnectError::NoFreeSocket)?;
        let socket = sockets.get_mut::<tcp::Socket>(slot.handle());
        let id = slot
            .connect(socket, cx, remote.into(), port, &config, millis(now))
            .map_err(ConnectError::Tcp)?;
        self.next_port = port.checked_add(1).unwrap_or(first);
        Ok(id)
    }

    /// The connections and the stop switch, as the hooks see them: to transmit on a
    /// connection or shut it down, count connections or stop the client between polls.
    pub fn control(&mut self) -> Control<'_> {
        self.pool.control()
    }

    /// Drives every connection: connects, handshakes, moves messages, calls the hooks and
    /// closes sockets. Does what can be done without blocking and says when to come back.
    pub fn poll<H: Handler + ClientHooks + ?Sized>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        hooks: &mut H,
    ) -> Status {
        self.pool
            .poll::<AsClient, _, _>(now, sockets, &mut (), hooks)
    }
}

impl<R: Buffer + Default, T: Buffer + Default, P: Plugins + Default, const N: usize>
    Client<R, T, P, N>
{
    /// A client whose slots use default buffers (e.g. `heapless::Vec<u8, M>`) and plugins,
    /// one per socket handle.
    pub fn with_sockets(handles: [SocketHandle; N], config: Config) -> Self {
        Self::new(handles.map(Slot::for_socket), config)
    }
}
