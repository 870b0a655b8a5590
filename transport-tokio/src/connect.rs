//! Clients: [`connect`] and the [`ConnectionBuilder`] behind it.

use crate::config::ConnSettings;
use crate::error::ConnectError;
use crate::{Connection, Error};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{lookup_host, TcpStream, ToSocketAddrs};

/// Connects with the default settings and completes the init handshake; see
/// [`ConnectionBuilder::connect`].
pub async fn connect(addr: impl ToSocketAddrs) -> Result<Connection<TcpStream>, ConnectError> {
    ConnectionBuilder::new().connect(addr).await
}

/// Configures a connection: [`connect`](ConnectionBuilder::connect) to a server, or
/// [`handshake`](ConnectionBuilder::handshake) over a stream you made.
///
/// ```no_run
/// use std::time::Duration;
/// use tinyproto_tokio::{ConnectionBuilder, Timeouts};
/// # async fn run() -> Result<(), tinyproto_tokio::ConnectError> {
/// let conn = ConnectionBuilder::new()
///     .timeouts(Timeouts::new().handshake(2_000).status(10_000).stall(10_000))
///     .connect_timeout(Some(Duration::from_secs(2)))
///     .max_message_size(1 << 20)
///     .connect("[::1]:9123")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ConnectionBuilder {
    settings: ConnSettings,
}

impl ConnectionBuilder {
    /// The defaults (those of `tinyproto-std`).
    pub fn new() -> Self {
        Self::default()
    }

    settings_methods!(settings);

    /// Most time to establish the TCP connection to each address tried (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT); `None`: the system's).
    pub fn connect_timeout(mut self, limit: Option<std::time::Duration>) -> Self {
        self.settings.connect = limit;
        self
    }

    /// Resolves `addr` (host names and IPv6 included), connects to each address in turn
    /// within the connect timeout, and completes the init handshake on the first that
    /// answers.
    pub async fn connect(
        &self,
        addr: impl ToSocketAddrs,
    ) -> Result<Connection<TcpStream>, ConnectError> {
        let addrs: Vec<_> = lookup_host(addr)
            .await
            .map_err(ConnectError::Resolve)?
            .collect();
        if addrs.is_empty() {
            return Err(ConnectError::Resolve(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolved to no address",
            )));
        }
        let mut last = ConnectError::Timeout;
        for addr in addrs {
            let attempt = TcpStream::connect(addr);
            let result = match self.settings.connect {
                Some(limit) => tokio::time::timeout(limit, attempt)
                    .await
                    .unwrap_or(Err(std::io::ErrorKind::TimedOut.into())),
                None => attempt.await,
            };
            match result {
                Ok(stream) => {
                    stream
                        .set_nodelay(self.settings.nodelay)
                        .map_err(ConnectError::Io)?;
                    return self
                        .handshake(stream)
                        .await
                        .map_err(ConnectError::Handshake);
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = ConnectError::Timeout;
                }
                Err(e) => last = ConnectError::Io(e),
            }
        }
        Err(last)
    }

    /// Completes the init handshake over any stream (a `TcpStream` you connected, a TLS
    /// stream, a `tokio::io::duplex` pipe); the handshake timeout applies.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tinyproto_tokio::{ConnectionBuilder, Received, Sent};
    /// let (a, b) = tokio::io::duplex(64);
    /// let builder = ConnectionBuilder::new();
    /// let (a, b) = tokio::try_join!(builder.handshake(a), builder.handshake(b))?;
    /// let (mut a, mut b) = (a, b);
    /// // The receiver answers the header before the payload moves: both run at once.
    /// let (sent, got) = tokio::join!(a.send("ping"), b.recv());
    /// assert_eq!(sent?, Sent::Written);
    /// assert_eq!(got?, Some(Received::Message("ping".into())));
    /// # Ok(()) }
    /// ```
    pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
    ) -> Result<Connection<S>, Error> {
        Connection::handshake(io, &self.settings, None).await
    }
}
