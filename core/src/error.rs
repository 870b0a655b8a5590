//! The error type of the drivers, generic over the transport's error.

use crate::buffer::CapacityError;
use crate::plugin::PluginError;
use crate::session::{Phase, ProtocolError, SendError};
use core::fmt;

/// Everything that can go wrong on a connection.
///
/// Some errors leave the connection usable, with the stream in sync ([`Error::is_fatal`] is
/// `false`): the peer refused our message, we refused the peer's, or a plugin refused a
/// message. The others close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport failed.
    Transport(E),
    /// The transport accepted zero bytes of a non-empty write.
    WriteZero,
    /// The peer broke the protocol or closed mid-message.
    Protocol(ProtocolError),
    /// The peer closed the connection at a message boundary (a normal end).
    Closed,
    /// The peer announced a message above our limit; we answered `0x00` and skipped it.
    /// The connection stays usable.
    TooLarge {
        /// Length the peer announced.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// The peer answered our header with `0x00`: it refuses a message this large. Nothing was
    /// sent and the connection stays usable.
    Rejected {
        /// Length we announced.
        len: u32,
    },
    /// A send could not start (busy, too long, plugin or buffer capacity); nothing was sent.
    Send(SendError),
    /// A receive plugin refused a message that arrived whole; the connection stays usable.
    Plugin(PluginError),
    /// A received payload did not fit where it had to be stored.
    Capacity(CapacityError),
    /// The peer did not make progress in time.
    Timeout {
        /// What we were waiting for.
        phase: Phase,
    },
    /// An async `transmit` was dropped (a timeout, a `select!`) after its message had started:
    /// the peer expects the rest, which is gone, so the connection is closed. Only the async
    /// driver reports it.
    Cancelled,
}

impl<E> Error<E> {
    /// Whether the connection is unusable after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::TooLarge { .. } | Self::Rejected { .. } | Self::Send(_) | Self::Plugin(_)
        )
    }

    /// Maps the transport error, keeping every other variant.
    pub fn map_transport<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Self::Transport(e) => Error::Transport(f(e)),
            Self::WriteZero => Error::WriteZero,
            Self::Protocol(e) => Error::Protocol(e),
            Self::Closed => Error::Closed,
            Self::TooLarge { len, limit } => Error::TooLarge { len, limit },
            Self::Rejected { len } => Error::Rejected { len },
            Self::Send(e) => Error::Send(e),
            Self::Plugin(e) => Error::Plugin(e),
            Self::Capacity(e) => Error::Capacity(e),
            Self::Timeout { phase } => Error::Timeout { phase },
            Self::Cancelled => Error::Cancelled,
        }
    }
}

impl<E> From<ProtocolError> for Error<E> {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::WriteZero => f.write_str("transport wrote zero bytes"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Closed => f.write_str("connection closed by peer"),
            Self::TooLarge { len, limit } => {
                write!(f, "refused a message of {len} bytes (limit {limit})")
            }
            Self::Rejected { len } => {
                write!(f, "peer rejected our message of {len} bytes (too large)")
            }
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::Plugin(e) => write!(f, "receive plugin: {e}"),
            Self::Capacity(e) => e.fmt(f),
            Self::Timeout { phase } => write!(f, "timed out during {phase}"),
            Self::Cancelled => f.write_str("a transmit was dropped mid-message; connection closed"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            Self::Protocol(e) => Some(e),
            Self::Send(e) => Some(e),
            Self::Plugin(e) => Some(e),
            Self::Capacity(e) => Some(e),
            _ => None,
        }
    }
}
