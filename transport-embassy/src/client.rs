//! The client: one connection on a socket of the application's.

use embassy_net::tcp::{self, TcpSocket};
use embassy_net::IpEndpoint;
use embassy_time::with_timeout;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::Phase;
use tinyproto_core::{AsyncConnection, Error};

use crate::config::Config;
use crate::conn::Conn;
use crate::error::ConnectError;
use crate::socket::close;
use crate::status::StatusLimited;

/// Connects `socket` to `remote` within the [connect limit](Config::connect) and completes
/// the init handshake within the [handshake limit](Config::handshake): a connection that
/// receives into `buf` (its limit is the largest message accepted) through `plugins`.
///
/// ```no_run
/// # async fn run(stack: embassy_net::Stack<'static>) -> Result<(), Box<dyn core::error::Error>> {
/// use embassy_net::{tcp::TcpSocket, IpAddress, IpEndpoint};
/// use tinyproto_core::{Received, Sent};
/// use tinyproto_embassy::{connect, Config};
///
/// let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
/// let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
/// let server = IpEndpoint::new(IpAddress::v4(192, 168, 69, 100), 9123);
/// let buf = heapless::Vec::<u8, 1024>::new();
/// let mut conn = connect(&mut socket, server, buf, (), Config::new()).await?;
/// assert_eq!(conn.transmit(b"hello").await?, Sent::Written);
/// if let Received::Message(reply) = conn.receive().await? {
///     assert_eq!(reply, b"Echo back: hello");
/// }
/// conn.close().await;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ConnectError`]; the socket is closed and free again.
pub async fn connect<'s, 'a, B: Buffer, P: Plugins>(
    socket: &'s mut TcpSocket<'a>,
    remote: impl Into<IpEndpoint>,
    buf: B,
    plugins: P,
    config: Config,
) -> Result<Conn<'static, &'s mut TcpSocket<'a>, B, P>, ConnectError> {
    let remote = remote.into();
    let connected = with_timeout(config.connect_limit(), socket.connect(remote)).await;
    if let Err(e) = connected.unwrap_or(Err(tcp::ConnectError::TimedOut)) {
        close(socket, config.close_wait_limit()).await;
        return Err(ConnectError::Connect(e));
    }
    let mut conn = AsyncConnection::with_plugins(StatusLimited::new(socket), buf, plugins);
    let handshake = with_timeout(config.handshake_limit(), conn.handshake()).await;
    if let Err(e) = handshake.unwrap_or(Err(Error::Timeout {
        phase: Phase::Handshake,
    })) {
        close(conn.into_inner().into_inner(), config.close_wait_limit()).await;
        return Err(ConnectError::Handshake(e));
    }
    Ok(Conn::new(conn, Some(remote), config, None))
}
