//! The limits of a connection: how long a peer may take, and how long a close waits.

use embassy_time::Duration;

/// Timeouts of the server's and the client's connections, built with chained setters.
///
/// The defaults are those of `tinyproto-std`: 5 s for the TCP connect and the init
/// handshake, 30 s for the status byte that answers our header, 30 s for a message that stops
/// making progress, 1 s for a refused peer to read our `0xfe` and close, and 500 ms for a
/// closing peer's FIN.
///
/// ```
/// use embassy_time::Duration;
/// use tinyproto_embassy::Config;
///
/// let config = Config::new().stall(Some(Duration::from_secs(10)));
/// assert_eq!(config.stall_limit(), Some(Duration::from_secs(10)));
/// assert_eq!(config.handshake_limit(), Duration::from_secs(5));
/// assert_eq!(config.status_limit(), Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    connect: Duration,
    handshake: Duration,
    status: Option<Duration>,
    stall: Option<Duration>,
    linger: Duration,
    close: Duration,
}

impl Config {
    /// The defaults (see the type's docs).
    pub const fn new() -> Self {
        Self {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(5),
            status: Some(Duration::from_secs(30)),
            stall: Some(Duration::from_secs(30)),
            linger: Duration::from_millis(tinyproto_core::refusal::LINGER_MS as u64),
            close: Duration::from_millis(500),
        }
    }

    /// Limit for the client's TCP connect.
    pub const fn connect(mut self, limit: Duration) -> Self {
        self.connect = limit;
        self
    }

    /// Limit for the peer's init byte, once TCP is up.
    pub const fn handshake(mut self, limit: Duration) -> Self {
        self.handshake = limit;
        self
    }

    /// Limit for the peer's status byte (`0xff` or `0x00`) that answers the header of a
    /// message we [transmit](crate::Conn::transmit); `None`: none.
    pub const fn status(mut self, limit: Option<Duration>) -> Self {
        self.status = limit;
        self
    }

    /// Limit on a message being received (its header or payload) that makes no progress;
    /// `None`: none. Between messages a peer may stay silent as long as it likes, as in Python.
    pub const fn stall(mut self, limit: Option<Duration>) -> Self {
        self.stall = limit;
        self
    }

    /// How long a refused peer (connection limit) may take to read our `0xfe` and close.
    pub const fn linger(mut self, limit: Duration) -> Self {
        self.linger = limit;
        self
    }

    /// How long a closing connection waits for the peer's FIN before it resets (Python 3.0
    /// never closes its side, PROTOCOL.md Q8).
    pub const fn close_wait(mut self, limit: Duration) -> Self {
        self.close = limit;
        self
    }

    /// The connect limit.
    pub const fn connect_limit(&self) -> Duration {
        self.connect
    }

    /// The handshake limit.
    pub const fn handshake_limit(&self) -> Duration {
        self.handshake
    }

    /// The status-byte limit.
    pub const fn status_limit(&self) -> Option<Duration> {
        self.status
    }

    /// The stall limit.
    pub const fn stall_limit(&self) -> Option<Duration> {
        self.stall
    }

    /// The refusal's linger.
    pub const fn linger_limit(&self) -> Duration {
        self.linger
    }

    /// The wait for the peer's FIN on close.
    pub const fn close_wait_limit(&self) -> Duration {
        self.close
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
