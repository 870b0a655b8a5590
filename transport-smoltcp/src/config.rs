//! Settings shared by the server and the client.

use smoltcp::socket::tcp;
use smoltcp::time::Duration;
use tinyproto_core::connection::Timeouts;

/// Timeouts, keep-alive and socket options for every connection of a
/// [`Server`](crate::Server) or [`Client`](crate::Client).
///
/// ```
/// use smoltcp::time::Duration;
/// use tinyproto_core::connection::Timeouts;
/// use tinyproto_smoltcp::Config;
///
/// let config = Config::new()
///     .timeouts(Timeouts::new().handshake(5_000).status(5_000).stall(30_000))
///     .tcp_timeout(Some(Duration::from_secs(20)))
///     .keep_alive(Some(Duration::from_secs(10)))
///     .linger(Duration::from_secs(2));
/// assert_eq!(config.linger_time(), Duration::from_secs(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    pub(crate) timeouts: Timeouts,
    pub(crate) tcp_timeout: Option<Duration>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) nagle: bool,
    pub(crate) ack_delay: Option<Duration>,
    /// The linger in milliseconds, as the core's clocks count (converted once, here).
    linger_ms: u32,
    pub(crate) first_local_port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The default protocol timeouts: 5 s for the peer's init byte, 30 s for the status byte
    /// that answers our header, 30 s for a header or payload that stops moving. Without them a
    /// peer that connects and stays silent would hold its slot for ever, and `N` such peers
    /// the whole pool. An idle connection between messages has no limit (as in the Python
    /// package); [`Config::keep_alive`] with [`Config::tcp_timeout`] detects one that vanished.
    pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts::new()
        .handshake(5_000)
        .status(30_000)
        .stall(30_000);

    /// Defaults: the protocol timeouts of [`Config::DEFAULT_TIMEOUTS`] (those of the std
    /// transport), smoltcp's TCP defaults for retransmission timeout and keep-alive (none),
    /// Nagle off (a 4-byte header must not wait for an ACK), smoltcp's default ACK delay, 5 s
    /// linger, client ports from 49152.
    pub const fn new() -> Self {
        Self {
            timeouts: Self::DEFAULT_TIMEOUTS,
            tcp_timeout: None,
            keep_alive: None,
            nagle: false,
            ack_delay: Some(Duration::from_millis(10)),
            linger_ms: 5_000,
            first_local_port: 49152,
        }
    }

    /// Protocol timeouts (handshake, status byte, stalled transfer), measured on the clock
    /// passed to `poll`; [`Timeouts::new()`] waits for ever. The handshake limit of a client
    /// connection counts from `connect`, so it bounds the TCP connect as well.
    pub const fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// smoltcp's socket timeout ([`tcp::Socket::set_timeout`]): the connection is aborted when
    /// sent data (or a SYN, or a keep-alive) stays unacknowledged this long. It then ends with
    /// [`TcpError::Reset`](crate::TcpError::Reset).
    pub const fn tcp_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.tcp_timeout = timeout;
        self
    }

    /// TCP keep-alive interval ([`tcp::Socket::set_keep_alive`]); with a
    /// [`Config::tcp_timeout`] it detects a peer that vanished while the line is idle.
    pub const fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Nagle's algorithm (off by default, like `TCP_NODELAY` in the std transport).
    pub const fn nagle(mut self, enabled: bool) -> Self {
        self.nagle = enabled;
        self
    }

    /// Delayed-ACK time ([`tcp::Socket::set_ack_delay`]); `None` acknowledges at once.
    pub const fn ack_delay(mut self, delay: Option<Duration>) -> Self {
        self.ack_delay = delay;
        self
    }

    /// How long a closed connection may take to finish its TCP close (FIN exchange) before
    /// its socket is aborted and re-armed. Bounds how long a vanished or silent peer holds a
    /// socket of the pool, and how long a peer refused at the connection limit may take to
    /// read the `0xfe` and close.
    ///
    /// Counted in whole milliseconds, at most `u32::MAX` (49 days).
    pub const fn linger(mut self, linger: Duration) -> Self {
        let ms = linger.total_millis();
        self.linger_ms = if ms > u32::MAX as u64 {
            u32::MAX
        } else {
            ms as u32
        };
        self
    }

    /// First local port a [`Client`](crate::Client) uses; later connections take the next
    /// ports in turn (wrapping within 49152..=65535 when started there). Firmware should pick
    /// a random start at boot so that a restarted device does not reuse the ports of its
    /// previous life.
    pub const fn first_local_port(mut self, port: u16) -> Self {
        self.first_local_port = port;
        self
    }

    /// The protocol timeouts.
    pub const fn protocol_timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The linger time.
    pub const fn linger_time(&self) -> Duration {
        Duration::from_millis(self.linger_ms as u64)
    }

    /// The linger time in milliseconds, as the core's clocks count.
    pub(crate) fn linger_millis(&self) -> u32 {
        self.linger_ms
    }

    pub(crate) fn apply(&self, socket: &mut tcp::Socket<'_>) {
        socket.set_timeout(self.tcp_timeout);
        socket.set_keep_alive(self.keep_alive);
        socket.set_nagle_enabled(self.nagle);
        socket.set_ack_delay(self.ack_delay);
    }
}
