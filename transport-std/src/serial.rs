//! The name of a connection of a server or client: its serial number.

use std::fmt;

/// Identifies a connection of a server or client for its whole life: the number of
/// connections it opened before, plus one, never reused (Python uses a UUID). Displays as its
/// number.
///
/// It is not the core's [`ConnId`](tinyproto_core::ConnId) (a slot index with a generation,
/// for transports with a fixed pool of sockets): a server here has no fixed pool, and may
/// hold more connections than a `u16` index counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnSerial(pub(crate) u64);

impl ConnSerial {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
