//! The server: every socket of a pool accepts on one port, under one connection limit.

use embassy_net::tcp::TcpSocket;
use embassy_net::IpEndpoint;
use embassy_time::with_timeout;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::Phase;
use tinyproto_core::{AsyncConnection, Error};

use crate::config::Config;
use crate::conn::Conn;
use crate::error::AcceptError;
use crate::limit::Limit;
use crate::socket::{close, refuse};
use crate::status::StatusLimited;

/// A tinyproto server on one TCP port: shared (`&'static`, or borrowed by tasks of one scope)
/// by a pool of tasks, each with its own `TcpSocket` calling [`Server::accept`] in a loop.
///
/// At most `max_connections` connections are served at once. A peer accepted beyond that is
/// answered on the core's [`Refusal`](tinyproto_core::refusal::Refusal) machine — the single
/// byte `0xfe`, our FIN, its init byte read and dropped until it closes or the
/// [linger](Config::linger) passes — and `accept` returns [`Accepted::Refused`]. So give the
/// pool more sockets than `max_connections`: the spare ones listen while the others serve,
/// and answer the peers over the limit (one spare answers one refused peer at a time; with
/// none listening, embassy-net resets a new peer).
///
/// ```no_run
/// use embassy_net::tcp::TcpSocket;
/// use tinyproto_core::Received;
/// use tinyproto_embassy::{Accepted, Config, Server};
///
/// static SERVER: Server = Server::new(9123, 4, Config::new());
///
/// // One of 4 + 1 tasks, each with its own socket (`#[embassy_executor::task(pool_size = 5)]`).
/// async fn worker(mut socket: TcpSocket<'static>) -> ! {
///     let mut buf = heapless::Vec::<u8, 1024>::new();
///     let mut reply = heapless::Vec::<u8, 1024>::new();
///     loop {
///         let mut conn = match SERVER.accept(&mut socket, &mut buf, ()).await {
///             Ok(Accepted::Connection(conn)) => conn, // conn_init + pre_loop
///             Ok(Accepted::Refused(_)) => continue,   // conn_refused
///             Err(_) => continue,                     // handshake failed
///         };
///         // transmission_received, one message at a time
///         while let Ok(Received::Message(msg)) = conn.receive().await {
///             reply.clear();
///             let _ = reply.extend_from_slice(msg);
///             if conn.transmit(&reply).await.is_err() {
///                 break;
///             }
///         }
///         conn.close().await; // post_loop + conn_shutdown
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Server {
    port: u16,
    limit: Limit,
    config: Config,
}

/// What [`Server::accept`] did with the peer it accepted.
pub enum Accepted<'s, 'a, B, P = ()> {
    /// A connection within the limit, init handshake done.
    Connection(Conn<'s, &'s mut TcpSocket<'a>, B, P>),
    /// A peer over the limit, answered `0xfe` and closed; the socket is free again.
    Refused(Refused),
}

/// A peer refused at the connection limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Refused {
    /// The peer's address and port.
    pub remote: Option<IpEndpoint>,
    /// The peer had not closed when the [linger](Config::linger) ran out (it was reset).
    pub timed_out: bool,
}

impl Server {
    /// A server on `port` serving at most `max_connections` at once.
    pub const fn new(port: u16, max_connections: usize, config: Config) -> Self {
        Self {
            port,
            limit: Limit::new(max_connections),
            config,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection limit.
    pub fn max_connections(&self) -> usize {
        self.limit.max()
    }

    /// Connections served now.
    pub fn active(&self) -> usize {
        self.limit.active()
    }

    /// Listens with `socket` until a peer connects; then serves it ([`Accepted::Connection`],
    /// after the init handshake, with `buf` for its messages — its limit is the largest
    /// message accepted — and `plugins`), or refuses it at the connection limit
    /// ([`Accepted::Refused`]).
    ///
    /// # Errors
    /// [`AcceptError`]: the socket could not listen or the handshake failed; the socket is
    /// closed and free again.
    pub async fn accept<'s, 'a, B: Buffer, P: Plugins>(
        &'s self,
        socket: &'s mut TcpSocket<'a>,
        buf: B,
        plugins: P,
    ) -> Result<Accepted<'s, 'a, B, P>, AcceptError> {
        if let Err(e) = socket.accept(self.port).await {
            close(socket, self.config.close_wait_limit()).await;
            return Err(AcceptError::Listen(e));
        }
        let remote = socket.remote_endpoint();
        let Some(slot) = self.limit.take() else {
            let timed_out = refuse(socket, self.config.linger_limit()).await;
            close(socket, self.config.close_wait_limit()).await;
            return Ok(Accepted::Refused(Refused { remote, timed_out }));
        };
        let mut conn = AsyncConnection::with_plugins(StatusLimited::new(socket), buf, plugins);
        let handshake = with_timeout(self.config.handshake_limit(), conn.handshake()).await;
        if let Err(e) = handshake.unwrap_or(Err(Error::Timeout {
            phase: Phase::Handshake,
        })) {
            close(
                conn.into_inner().into_inner(),
                self.config.close_wait_limit(),
            )
            .await;
            return Err(AcceptError::Handshake(e));
        }
        Ok(Accepted::Connection(Conn::new(
            conn,
            remote,
            self.config,
            Some(slot),
        )))
    }
}
