//! Settings of a connection, shared by [`ConnectionBuilder`](crate::ConnectionBuilder) and
//! [`ListenerBuilder`](crate::ListenerBuilder). They are `tinyproto-std`'s own (its
//! `ConnSettings`, the core's [`Timeouts`] and std's defaults): a program moving between the
//! two transports keeps its configuration.

pub(crate) use tinyproto_std::ConnSettings;
pub use tinyproto_std::{
    Timeouts, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REUSE_LIMIT,
    DEFAULT_TIMEOUTS,
};

/// The time limits, or `None` when none is set (a connection then needs no timer).
pub(crate) fn core_timeouts(timeouts: &Timeouts) -> Option<Timeouts> {
    (*timeouts != Timeouts::new()).then_some(*timeouts)
}

/// Builder methods for the settings of each connection, shared by both builders.
macro_rules! settings_methods {
    ($field:ident) => {
        /// Sets the protocol's time limits (default
        /// [`DEFAULT_TIMEOUTS`](crate::DEFAULT_TIMEOUTS); [`Timeouts::new`](crate::Timeouts::new)
        /// has none).
        pub fn timeouts(mut self, timeouts: $crate::Timeouts) -> Self {
            self.$field.timeouts = timeouts;
            self
        }

        /// Largest message accepted from the peer (default
        /// [`DEFAULT_MAX_MESSAGE_SIZE`](crate::DEFAULT_MAX_MESSAGE_SIZE)). A longer one is
        /// answered `0x00` and skipped, the stream stays in sync, and
        /// [`recv`](crate::RecvHalf::recv) reports
        /// [`Received::Refused`](crate::Received::Refused). Memory grows only as a message's bytes actually arrive.
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
