//! The application's side: the hooks of Python's `TinyProtoServer`/`TinyProtoConnection`, and
//! the handles they receive.

use crate::error::Shutdown;
use smoltcp::wire::IpEndpoint;
use tinyproto_core::connection::Failure;
use tinyproto_core::session::{Phase, SendError};
use tinyproto_core::ConnId;

/// The hooks of the connections (Python's `TinyProtoConnection`), called from
/// [`Server::poll`](crate::Server::poll) and [`Client::poll`](crate::Client::poll). Every
/// method has an empty default.
///
/// The same names and meaning as in the other transports, without threads: all run inside
/// `poll`, one at a time, and must not block. One value serves every connection of a pool:
/// [`Conn::id`] tells them apart (its [`index`](ConnId::index) is the slot's, for per-slot
/// state in an array). For one connection the order is `pre_loop` once the init handshake is
/// done; `transmission_received` for each message and `loop_pass` on every `poll`;
/// `post_loop` once it has closed.
pub trait Handler {
    /// A connection finished its init handshake and can transmit (Python's `pre_loop`).
    fn pre_loop(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// A whole message arrived, plugins applied; it is [`Conn::message`] (Python's
    /// `transmission_received`). A reply may be transmitted from here.
    fn transmission_received(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// On every `poll`, for each connection whose handshake is done (Python's per-connection
    /// `loop_pass`).
    fn loop_pass(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// Once a connection whose `pre_loop` ran has closed (Python's `post_loop`); the reason
    /// goes to the server's or client's `conn_shutdown`, which follows.
    fn post_loop(&mut self, id: ConnId) {
        let _ = id;
    }

    /// A message could not be delivered or sent, and the connection goes on: the peer
    /// announced a message above our capacity (we answered `0x00`), the peer refused ours,
    /// or a receive plugin refused a message.
    fn transmission_failed(&mut self, conn: &mut Conn<'_>, failure: &Failure) {
        let _ = (conn, failure);
    }
}

/// The server's own hooks (Python's `TinyProtoServer`), called from
/// [`Server::poll`](crate::Server::poll) with the same value as its [`Handler`]. Every method
/// has an empty default.
pub trait ServerHooks {
    /// Once, in the first `poll`, before anything else (Python's `pre_loop`).
    fn pre_loop(&mut self, ctl: &mut Control<'_>) {
        let _ = ctl;
    }

    /// At the end of every `poll` (Python's `loop_pass`): the place to transmit on any
    /// connection or to stop.
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        let _ = ctl;
    }

    /// Once, when a stop has completed: every connection was shut down and every socket is
    /// closed (Python's `post_loop`).
    fn post_loop(&mut self) {}

    /// A peer connected (TCP is up); its init handshake runs next (Python's `conn_init`).
    fn conn_init(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// A connection ended, after its [`Handler::post_loop`] (Python's `conn_shutdown`).
    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        let _ = (id, why);
    }

    /// The server was at its connection limit: it answered this peer `0xfe` and lets it go.
    fn conn_refused(&mut self, remote: IpEndpoint) {
        let _ = remote;
    }
}

/// The client's own hooks (Python's `TinyProtoClient`), called from
/// [`Client::poll`](crate::Client::poll) with the same value as its [`Handler`]. Every method
/// has an empty default.
pub trait ClientHooks {
    /// Once, in the first `poll`, before anything else.
    fn pre_loop(&mut self, ctl: &mut Control<'_>) {
        let _ = ctl;
    }

    /// At the end of every `poll`: the place to transmit on any connection or to stop.
    fn loop_pass(&mut self, ctl: &mut Control<'_>) {
        let _ = ctl;
    }

    /// Once, when a stop has completed and every socket is closed.
    fn post_loop(&mut self) {}

    /// A connection ended, after its [`Handler::post_loop`] if it came up. smoltcp connects
    /// without blocking, so this is also where a connection that never came up (refused,
    /// timed out, refused at the server's limit) is reported, with the reason.
    fn conn_shutdown(&mut self, id: ConnId, why: &Shutdown) {
        let _ = (id, why);
    }
}

/// Which hooks a pool calls besides the [`Handler`]: a server's or a client's, told apart by
/// the role `R` ([`AsServer`], [`AsClient`]).
pub(crate) trait Hooks<R>: Handler {
    fn started(&mut self, ctl: &mut Control<'_>);
    fn passed(&mut self, ctl: &mut Control<'_>);
    fn stopped(&mut self);
    fn accepted(&mut self, conn: &mut Conn<'_>);
    fn ended(&mut self, id: ConnId, why: &Shutdown);
    fn refused(&mut self, remote: IpEndpoint);
}

/// The server role of [`Hooks`].
pub(crate) enum AsServer {}

/// The client role of [`Hooks`].
pub(crate) enum AsClient {}

impl<H: Handler + ServerHooks + ?Sized> Hooks<AsServer> for H {
    fn started(&mut self, ctl: &mut Control<'_>) {
        ServerHooks::pre_loop(self, ctl);
    }
    fn passed(&mut self, ctl: &mut Control<'_>) {
        ServerHooks::loop_pass(self, ctl);
    }
    fn stopped(&mut self) {
        ServerHooks::post_loop(self);
    }
    fn accepted(&mut self, conn: &mut Conn<'_>) {
        self.conn_init(conn);
    }
    fn ended(&mut self, id: ConnId, why: &Shutdown) {
        ServerHooks::conn_shutdown(self, id, why);
    }
    fn refused(&mut self, remote: IpEndpoint) {
        self.conn_refused(remote);
    }
}

impl<H: Handler + ClientHooks + ?Sized> Hooks<AsClient> for H {
    fn started(&mut self, ctl: &mut Control<'_>) {
        ClientHooks::pre_loop(self, ctl);
    }
    fn passed(&mut self, ctl: &mut Control<'_>) {
        ClientHooks::loop_pass(self, ctl);
    }
    fn stopped(&mut self) {
        ClientHooks::post_loop(self);
    }
    fn accepted(&mut self, _: &mut Conn<'_>) {}
    fn ended(&mut self, id: ConnId, why: &Shutdown) {
        ClientHooks::conn_shutdown(self, id, why);
    }
    fn refused(&mut self, _: IpEndpoint) {}
}

/// One live connection, as the hooks see it.
pub struct Conn<'a> {
    pub(crate) link: &'a mut dyn Link,
}

impl Conn<'_> {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.link.id()
    }

    /// The peer's address and port.
    pub fn remote_endpoint(&self) -> Option<IpEndpoint> {
        self.link.remote()
    }

    /// The last message received: valid in
    /// [`Handler::transmission_received`], empty before the first one.
    pub fn message(&self) -> &[u8] {
        self.link.message()
    }

    /// Starts sending `msg` (Python's `transmit`): it is copied to the connection's send
    /// buffer and moves on the following polls. Fails with [`SendError::Busy`] while another
    /// message is in flight on this connection (the protocol sends one message at a time per
    /// connection and direction pair); try again from a later hook.
    pub fn transmit(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.link.transmit(msg)
    }

    /// Whether [`Conn::transmit`] would be accepted now.
    pub fn can_transmit(&self) -> bool {
        self.link.can_transmit()
    }

    /// What the protocol state machine is doing.
    pub fn phase(&self) -> Phase {
        self.link.phase()
    }

    /// Closes this connection (Python's `conn.shutdown = True`) once the message we are
    /// sending, if any, is out. `conn_shutdown` follows with [`Shutdown::Local`].
    pub fn shutdown(&mut self) {
        self.link.request_shutdown();
    }
}

/// What the loop hooks may do: reach every live connection, and stop. Between polls,
/// [`Server::control`](crate::Server::control) and [`Client::control`](crate::Client::control)
/// give the same.
pub struct Control<'a> {
    pub(crate) slots: &'a mut dyn Slots,
    pub(crate) stop: &'a mut bool,
}

impl<'a> Control<'a> {
    /// Stops the server or client: no new connection is accepted, every connection is shut
    /// down, and once the sockets are closed `post_loop` runs and `poll` reports
    /// [`Status::Stopped`](crate::Status::Stopped) (Python's `shutdown = True`).
    pub fn stop(&mut self) {
        *self.stop = true;
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        *self.stop
    }

    /// The ids of the connections whose handshake is done, in pool order.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + use<'_, 'a> {
        (0..self.slots.count()).filter_map(move |i| self.slots.id_at(i))
    }

    /// The live connection `id`, if it still is.
    pub fn connection(&mut self, id: ConnId) -> Option<Conn<'_>> {
        self.slots.link(id)
    }

    /// The number of live connections, including those whose handshake (or, for a client,
    /// TCP connect) is still in progress.
    pub fn active_connections(&self) -> usize {
        self.slots.open_count()
    }
}

/// A connection slot as seen through a [`Conn`].
pub(crate) trait Link {
    fn id(&self) -> ConnId;
    fn remote(&self) -> Option<IpEndpoint>;
    fn message(&self) -> &[u8];
    fn transmit(&mut self, msg: &[u8]) -> Result<(), SendError>;
    fn can_transmit(&self) -> bool;
    fn phase(&self) -> Phase;
    fn request_shutdown(&mut self);
}

/// The pool as seen through a [`Control`].
pub(crate) trait Slots {
    fn count(&self) -> usize;
    fn id_at(&self, index: usize) -> Option<ConnId>;
    fn open_count(&self) -> usize;
    fn link(&mut self, id: ConnId) -> Option<Conn<'_>>;
}
