//! Settings shared by the server, the client and the blocking connection.

use std::sync::Arc;
use std::time::Duration;
use tinyproto_core::connection::Timeouts;
use tinyproto_core::Plugin;

/// The time limits of a connection unless set otherwise (Python's server has none): the
/// peer's init byte within 5 s, the status byte answering our header within 30 s, and no
/// header or payload, in either direction, stalled for 30 s.
///
/// ```
/// use tinyproto_std::{Timeouts, DEFAULT_TIMEOUTS};
/// assert_eq!(DEFAULT_TIMEOUTS.stall_ms(), Some(30_000));
/// let quick = Timeouts::new().handshake(1_000).status(1_000).stall(2_000);
/// # let _ = quick;
/// ```
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts::new()
    .handshake(5_000)
    .status(30_000)
    .stall(30_000);

/// How long a client may take to establish its TCP connection unless set otherwise: 5 s,
/// Python's client default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `ms` milliseconds as a [`Duration`].
pub(crate) fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Makes a fresh plugin for each connection (Python shares one instance; per-connection state
/// is safer, and a factory can still hand out clones of shared state).
#[doc(hidden)]
pub type PluginFactory = Arc<dyn Fn() -> Box<dyn Plugin + Send> + Send + Sync>;

/// What every connection is made with: set by the builders' connection methods
/// (`conn_settings!`), read when a connection starts.
///
/// Public but hidden, and not a stable API: `tinyproto-tokio` makes its connections with the
/// same settings (one type for both transports), through its own builder methods.
#[doc(hidden)]
#[derive(Clone)]
pub struct ConnSettings {
    /// The time limits.
    pub timeouts: Timeouts,
    /// Establishing a client's TCP connection.
    pub connect: Option<Duration>,
    /// Largest message accepted from the peer.
    pub max_message_size: usize,
    /// Plugins, in the order they were added.
    pub plugins: Vec<PluginFactory>,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// Most bytes of sent messages' memory kept to receive into.
    pub reuse_limit: usize,
    /// Most time a blocking read first tries the socket without blocking.
    pub spin: Duration,
}

impl Default for ConnSettings {
    fn default() -> Self {
        Self {
            timeouts: DEFAULT_TIMEOUTS,
            connect: Some(DEFAULT_CONNECT_TIMEOUT),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            plugins: Vec::new(),
            nodelay: true,
            reuse_limit: DEFAULT_REUSE_LIMIT,
            spin: DEFAULT_SPIN,
        }
    }
}

impl ConnSettings {
    /// A fresh plugin of each factory, in the order they were added.
    pub fn plugins(&self) -> Vec<Box<dyn Plugin + Send>> {
        self.plugins.iter().map(|make| make()).collect()
    }
}

/// Default most time a blocking wait first tries without blocking: 50 µs (a peer
/// on another CPU answers a small message well within it); see
/// [`spin`](crate::TcpConnectionBuilder::spin).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// Default most bytes queued for one connection and not yet sent: 64 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 << 20;

/// Default most bytes of memory kept from messages sent, to receive into: 8 MiB.
pub const DEFAULT_REUSE_LIMIT: usize = 8 << 20;

/// Default largest message accepted: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

/// The least default memory budget for received messages (256 MiB), whatever the message
/// limit; see [`max_buffered_bytes`](crate::ServerBuilder::max_buffered_bytes).
pub const MIN_DEFAULT_BUFFERED_BYTES: usize = 256 << 20;

/// How the hook machinery of a server or client runs.
#[derive(Clone)]
pub(crate) struct EngineSettings {
    pub(crate) conn: ConnSettings,
    pub(crate) workers: usize,
    pub(crate) max_workers: usize,
    pub(crate) tick: Duration,
    pub(crate) connection_tick: Option<Duration>,
    pub(crate) max_queued: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) inline_hooks: bool,
    pub(crate) threads_per_connection: bool,
    pub(crate) shutdown_grace: Duration,
    /// `None`: [`EngineSettings::max_buffered_bytes`] derives it from the message limit.
    pub(crate) max_buffered_bytes: Option<usize>,
}

impl EngineSettings {
    /// The memory budget for received messages: as set, or the default, four of the largest
    /// messages and at least [`MIN_DEFAULT_BUFFERED_BYTES`].
    pub(crate) fn max_buffered_bytes(&self) -> usize {
        self.max_buffered_bytes.unwrap_or_else(|| {
            (self.conn.max_message_size.saturating_mul(4)).max(MIN_DEFAULT_BUFFERED_BYTES)
        })
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            conn: ConnSettings::default(),
            workers: cores.max(2),
            max_workers: 512,
            tick: Duration::from_millis(100),
            connection_tick: None,
            max_queued: 1024,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            inline_hooks: false,
            threads_per_connection: false,
            shutdown_grace: Duration::from_secs(5),
            max_buffered_bytes: None,
        }
    }
}

/// Builder methods for the settings of each connection, shared by every builder.
macro_rules! conn_settings {
    ($($field:ident).+) => {
        /// Sets the protocol's time limits (default
        /// [`DEFAULT_TIMEOUTS`](crate::DEFAULT_TIMEOUTS); [`Timeouts::new`](crate::Timeouts::new)
        /// has none, like Python's server).
        pub fn timeouts(mut self, timeouts: $crate::Timeouts) -> Self {
            self.$($field).+.timeouts = timeouts;
            self
        }

        /// Largest message accepted from the peer (default
        /// [`DEFAULT_MAX_MESSAGE_SIZE`](crate::DEFAULT_MAX_MESSAGE_SIZE)). A longer one is
        /// answered `0x00` and skipped; the connection goes on. Memory grows only as a
        /// message's bytes actually arrive.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            self.$($field).+.max_message_size = bytes;
            self
        }

        /// Adds a plugin to every connection, after those added before (Python's
        /// `register_connection_plugin`). `make` is called once per connection.
        pub fn plugin<P, F>(mut self, make: F) -> Self
        where
            P: tinyproto_core::Plugin + Send + 'static,
            F: Fn() -> P + Send + Sync + 'static,
        {
            self.$($field).+.plugins.push(std::sync::Arc::new(move || Box::new(make())));
            self
        }

        /// Sets `TCP_NODELAY` on every connection (default on: a 4-byte header must not wait
        /// behind Nagle's algorithm).
        pub fn nodelay(mut self, on: bool) -> Self {
            self.$($field).+.nodelay = on;
            self
        }

        /// Most bytes of memory kept from messages sent (of 64 KiB and more), to receive
        /// later messages into (default [`DEFAULT_REUSE_LIMIT`](crate::DEFAULT_REUSE_LIMIT);
        /// per I/O thread, or per [`TcpConnection`](crate::TcpConnection)). A message received
        /// into reused memory costs no allocation and no zero-filling, which is most of the
        /// library's own cost for large messages; an echo reuses its memory forever. 0 keeps
        /// nothing: sent messages are freed at once.
        pub fn reuse_limit(mut self, bytes: usize) -> Self {
            self.$($field).+.reuse_limit = bytes;
            self
        }

        /// Most time a blocking wait first tries without blocking (default
        /// [`DEFAULT_SPIN`](crate::DEFAULT_SPIN); zero: never), so that a peer answering
        /// from another CPU finds this thread still running instead of asleep: waking a
        /// sleeping thread, on a virtual machine above all, can cost more than the exchange.
        /// A [`TcpConnection`](crate::TcpConnection) and the
        /// [thread-per-connection mode](crate::ServerBuilder::threads_per_connection) spin
        /// before a blocking read, the reactor before it sleeps in `epoll_wait`.
        ///
        /// Spinning is adaptive (Linux only): never on a one-CPU machine or while a thread of
        /// the machine waits for a CPU (`/proc/loadavg`); after a spin that found nothing, or
        /// during which the thread was kept off its CPU (the peer needed it), the next 1, 2,
        /// 4 … 64 waits block at once (up to 1,024 for a thread pinned to one CPU), so a quiet
        /// connection or a peer sharing the CPU costs almost nothing.
        pub fn spin(mut self, limit: std::time::Duration) -> Self {
            self.$($field).+.spin = limit;
            self
        }
    };
}

/// The connect timeout's builder method, for the client builders.
macro_rules! connect_timeout {
    ($($field:ident).+) => {
        /// Most time to establish the TCP connection to each address tried (default
        /// [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT); `None`: the system's).
        pub fn connect_timeout(mut self, limit: Option<std::time::Duration>) -> Self {
            self.$($field).+.connect = limit;
            self
        }
    };
}

/// Builder methods for the hook machinery, shared by the server and client builders.
macro_rules! engine_settings {
    ($($field:ident).+) => {
        conn_settings!($($field).+.conn);

        /// Hook threads started up front (default: the number of cores, at least 2). More are
        /// started while every one is busy, up to [`max_workers`](Self::max_workers).
        pub fn workers(mut self, n: usize) -> Self {
            self.$($field).+.workers = n.max(1);
            self
        }

        /// Most hook threads (default 512): hooks blocked in `transmit`/`receive` each hold one.
        ///
        /// Once every one is taken by a blocked hook, the hooks of all other connections wait
        /// their turn (first come, first served): set this above the number of hooks that may
        /// block at once, or keep hooks short.
        pub fn max_workers(mut self, n: usize) -> Self {
            self.$($field).+.max_workers = n.max(1);
            self
        }

        /// Runs the connections' hooks on the I/O thread itself (default off: on hook threads).
        ///
        /// Inline, a message costs no thread hand-off: the hook runs as soon as the message is
        /// read, and what it transmits is written in the same pass — the lowest latency. The
        /// price: a hook must not block, since a slow hook delays every connection of this
        /// server or client. Inside, [`Conn::transmit`](crate::Conn::transmit) queues and
        /// returns at once (a refused message is reported to
        /// [`Handler::transmission_failed`](crate::Handler::transmission_failed)), and
        /// [`Conn::receive`](crate::Conn::receive) is
        /// [`ConnError::WouldBlockInline`](crate::ConnError::WouldBlockInline). Keep the
        /// default for hooks that transmit and receive in lockstep.
        pub fn inline_hooks(mut self, on: bool) -> Self {
            self.$($field).+.inline_hooks = on;
            self
        }

        /// Gives each connection a thread of its own (default off: one I/O thread serves all
        /// connections), as the Python package does: the thread blocks in `read` on its socket
        /// and runs the connection's hooks itself, which may block there
        /// ([`Conn::transmit`](crate::Conn::transmit) and [`Conn::receive`](crate::Conn::receive)
        /// wait in lockstep). [`inline_hooks`](Self::inline_hooks), [`workers`](Self::workers)
        /// and [`max_workers`](Self::max_workers) do not apply.
        ///
        /// For a few connections with the least latency: a lockstep message costs the system
        /// calls of a hand-written blocking program (no readiness wait before each read), which
        /// matters most when both ends share a CPU. Its reads arm no kernel timer and an idle
        /// connection's thread sleeps until the peer sends or closes: the time limits are kept
        /// by one watchdog thread (it wakes every 100 ms while any connection is open). The
        /// price: a thread (and its stack) per connection; with a
        /// [`connection_tick`](Self::connection_tick) or
        /// [plugins](Self::plugin) each read times out after at most 100 ms (so the connection
        /// thread can run the hooks these bring). Timeouts, limits and hooks behave as in the
        /// default mode. Inside a hook,
        /// [`ConnectionHandle::transmit`](crate::ConnectionHandle::transmit) and
        /// [`ClientHandle::connect`](crate::ClientHandle::connect) answer
        /// [`ConnError::WouldBlockInline`](crate::ConnError::WouldBlockInline) as in an inline
        /// hook; use [`Conn::transmit`](crate::Conn::transmit) or
        /// [`ConnectionHandle::send`](crate::ConnectionHandle::send).
        pub fn threads_per_connection(mut self, on: bool) -> Self {
            self.$($field).+.threads_per_connection = on;
            self
        }

        /// How long a shutdown waits for hooks that still run (default 5 s). Past it, their
        /// connections are reported closed (`conn_shutdown` with
        /// [`CloseReason::Shutdown`](crate::CloseReason::Shutdown), no `post_loop`) and the
        /// hook threads are left to finish on their own.
        pub fn shutdown_grace(mut self, grace: std::time::Duration) -> Self {
            self.$($field).+.shutdown_grace = grace;
            self
        }

        /// How often the server's or client's `loop_pass` runs (default 100 ms).
        pub fn tick(mut self, every: std::time::Duration) -> Self {
            self.$($field).+.tick = every;
            self
        }

        /// How often each connection's `loop_pass` runs (default never: idle connections cost
        /// no CPU). Python runs it on every pass of each connection's thread.
        pub fn connection_tick(mut self, every: Option<std::time::Duration>) -> Self {
            self.$($field).+.connection_tick = every;
            self
        }

        /// Most messages queued for one connection and not yet sent (default 1024); more are
        /// refused with [`ConnError::QueueFull`](crate::ConnError::QueueFull).
        pub fn max_queued(mut self, n: usize) -> Self {
            self.$($field).+.max_queued = n;
            self
        }

        /// Most bytes of received messages all connections hold together (default: four of
        /// the largest messages, [`max_message_size`](Self::max_message_size), and at least
        /// [`MIN_DEFAULT_BUFFERED_BYTES`](crate::MIN_DEFAULT_BUFFERED_BYTES): 256 MiB with the
        /// default limit).
        ///
        /// A message counts with its announced length from its header until its
        /// `transmission_received` hook returns (or a `receive` takes it). A header that does
        /// not fit in what is left is refused like an oversize message: the peer reads `0x00`
        /// and sends no payload, and the connection goes on in sync. So a few dozen peers that
        /// announce large messages and stall cannot take gigabytes; each waits out its stall
        /// limit holding at most its announced length, and later peers are refused until
        /// memory is free again.
        pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
            self.$($field).+.max_buffered_bytes = Some(bytes);
            self
        }

        /// Most bytes queued for one connection and not yet sent (default
        /// [`DEFAULT_MAX_QUEUED_BYTES`](crate::DEFAULT_MAX_QUEUED_BYTES)); a message that
        /// would pass it is refused with [`ConnError::QueueFull`](crate::ConnError::QueueFull),
        /// except into an empty queue (one message of any size can always be sent).
        pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
            self.$($field).+.max_queued_bytes = bytes;
            self
        }
    };
}
