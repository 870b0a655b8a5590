//! Settings of a connection, shared by [`ConnectionBuilder`](crate::ConnectionBuilder) and
//! [`ListenerBuilder`](crate::ListenerBuilder); the defaults are those of `tinyproto-std`.

use std::sync::Arc;
use std::time::Duration;
use tinyproto_core::Plugin;

/// Time limits of a connection; `None` waits forever. The defaults are `tinyproto-std`'s.
///
/// Waiting for the next message has no limit: wrap [`RecvHalf::recv`](crate::RecvHalf::recv)
/// in `tokio::time::timeout` for one (it is cancel safe).
///
/// ```
/// use std::time::Duration;
/// use tinyproto_tokio::Timeouts;
/// let t = Timeouts { stall: Some(Duration::from_secs(5)), ..Timeouts::default() };
/// assert_eq!(t.handshake, Some(Duration::from_secs(5)));
/// assert_eq!(t.status, Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection, per address tried (clients). Default 5 s, Python's
    /// client default.
    pub connect: Option<Duration>,
    /// Waiting for the peer's init byte. Default 5 s.
    pub handshake: Option<Duration>,
    /// Waiting for the status byte that answers our length header. Default 30 s.
    pub status: Option<Duration>,
    /// A header or payload, in either direction, that stops making progress. Default 30 s.
    pub stall: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Some(Duration::from_secs(5)),
            handshake: Some(Duration::from_secs(5)),
            status: Some(Duration::from_secs(30)),
            stall: Some(Duration::from_secs(30)),
        }
    }
}

impl Timeouts {
    /// No time limits at all (the Python server's behaviour).
    pub const NONE: Timeouts = Timeouts {
        connect: None,
        handshake: None,
        status: None,
        stall: None,
    };

    /// The core's timeouts (milliseconds) for the protocol phases, or `None` when there are
    /// none (then a connection needs no timer).
    pub(crate) fn core(&self) -> Option<tinyproto_core::connection::Timeouts> {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let mut t = tinyproto_core::connection::Timeouts::new();
        if let Some(d) = self.handshake {
            t = t.handshake(ms(d));
        }
        if let Some(d) = self.status {
            t = t.status(ms(d));
        }
        if let Some(d) = self.stall {
            t = t.stall(ms(d));
        }
        (t != tinyproto_core::connection::Timeouts::new()).then_some(t)
    }
}

/// Default largest message accepted: 64 MiB (as `tinyproto-std`).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

/// Default most bytes of a sent message's memory kept to receive into: 8 MiB (as
/// `tinyproto-std`).
pub const DEFAULT_REUSE_LIMIT: usize = 8 << 20;

/// Makes a fresh plugin for each connection.
pub(crate) type PluginFactory = Arc<dyn Fn() -> Box<dyn Plugin + Send> + Send + Sync>;

/// What every connection is made with.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) timeouts: Timeouts,
    pub(crate) max_message_size: usize,
    pub(crate) plugins: Vec<PluginFactory>,
    pub(crate) nodelay: bool,
    pub(crate) reuse_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            plugins: Vec::new(),
            nodelay: true,
            reuse_limit: DEFAULT_REUSE_LIMIT,
        }
    }
}

impl Settings {
    pub(crate) fn plugins(&self) -> Vec<Box<dyn Plugin + Send>> {
        self.plugins.iter().map(|make| make()).collect()
    }
}

/// Builder methods for the settings of each connection, shared by both builders.
macro_rules! settings_methods {
    ($field:ident) => {
        /// Sets the time limits (default [`Timeouts::default`](crate::Timeouts::default)).
        pub fn timeouts(mut self, timeouts: $crate::Timeouts) -> Self {
            self.$field.timeouts = timeouts;
            self
        }

        /// Largest message accepted from the peer (default
        /// [`DEFAULT_MAX_MESSAGE_SIZE`](crate::DEFAULT_MAX_MESSAGE_SIZE)). A longer one is
        /// answered `0x00` and skipped, the stream stays in sync, and
        /// [`recv`](crate::RecvHalf::recv) reports [`Error::TooLarge`](crate::Error::TooLarge)
        /// (not fatal). Memory grows only as a message's bytes actually arrive.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            self.$field.max_message_size = bytes;
            self
        }

        /// Adds a plugin, after those added before (Python's `register_plugin`). `make` is
        /// called once per connection.
        pub fn plugin<P, F>(mut self, make: F) -> Self
        where
            P: tinyproto_core::Plugin + Send + 'static,
            F: Fn() -> P + Send + Sync + 'static,
        {
            self.$field
                .plugins
                .push(std::sync::Arc::new(move || Box::new(make())));
            self
        }

        /// Sets `TCP_NODELAY` (default on: a 4-byte header must not wait behind Nagle's
        /// algorithm).
        pub fn nodelay(mut self, on: bool) -> Self {
            self.$field.nodelay = on;
            self
        }

        /// Most bytes of a sent message's memory kept to receive the next messages into
        /// (default [`DEFAULT_REUSE_LIMIT`](crate::DEFAULT_REUSE_LIMIT)): a message received
        /// into it costs no allocation and no zero-filling. 0 keeps nothing.
        pub fn reuse_limit(mut self, bytes: usize) -> Self {
            self.$field.reuse_limit = bytes;
            self
        }
    };
}
