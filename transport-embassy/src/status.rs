//! The status limit: a transport whose reads give up after a limit while one is set, so a
//! [`Conn::transmit`](crate::Conn::transmit) waiting for the peer's status byte ends.

use embassy_time::{with_timeout, Duration};
use embedded_io_async::{ErrorType, Read, Write};

/// `T` with an optional limit on each read. A read that gets nothing within the limit ends
/// as the end of the stream would (`Ok(0)`: the core closes its session) and records that it
/// [expired](Self::expired), for the caller to report as a timeout.
///
/// Set around the core's `transmit` (after the handshake), it bounds the wait for the peer's
/// `0xff`/`0x00`. The limit is per read: a peer that sends its own header meanwhile (both
/// ends sending at once, PROTOCOL.md Q6) restarts it with each read that brings bytes, and
/// the wait ends at most one limit after the peer's last byte.
pub(crate) struct StatusLimited<T> {
    io: T,
    limit: Option<Duration>,
    expired: bool,
}

impl<T> StatusLimited<T> {
    pub(crate) fn new(io: T) -> Self {
        Self {
            io,
            limit: None,
            expired: false,
        }
    }

    /// Bounds every read from now on by `limit` (`None`: reads wait as long as the peer).
    pub(crate) fn limit_reads(&mut self, limit: Option<Duration>) {
        self.limit = limit;
    }

    /// A read ran out of time; the stream was ended there. It stays set.
    pub(crate) fn expired(&self) -> bool {
        self.expired
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    pub(crate) fn into_inner(self) -> T {
        self.io
    }
}

impl<T: ErrorType> ErrorType for StatusLimited<T> {
    type Error = T::Error;
}

impl<T: Read> Read for StatusLimited<T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, T::Error> {
        if self.expired {
            return Ok(0);
        }
        let Some(limit) = self.limit else {
            return self.io.read(buf).await;
        };
        // A dropped read consumed nothing (the transport's own reads are cancel-safe).
        with_timeout(limit, self.io.read(buf))
            .await
            .unwrap_or_else(|_| {
                self.expired = true;
                Ok(0)
            })
    }
}

impl<T: Write> Write for StatusLimited<T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, T::Error> {
        self.io.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), T::Error> {
        self.io.flush().await
    }
}
