//! The errors of the drivers, generic over the transport's error.
//!
//! Each operation returns only what it can produce:
//! * [`SendError`]: a send could not start (nothing was sent, the connection is as it was).
//!   [`Connection::send`](crate::Connection::send) returns it.
//! * [`Error`]: the connection is over (the transport failed, the peer broke the protocol,
//!   closed or stalled). Every driver closes its protocol state when it returns one.
//!   [`Connection::poll`](crate::Connection::poll) and the receiving calls return it.
//! * [`TransmitError`]: one of the two, for the calls that start a send and drive it to its
//!   end (the blocking [`transmit`](crate::BlockingConnection::transmit) and the `nal`
//!   client's).
//!
//! Outcomes a connection survives are not errors: a message we refused as too large, a
//! message the peer rejected, a received message a plugin refused are
//! [`Event`](crate::connection::Event)s, [`Received`](crate::Received) and
//! [`Sent`](crate::Sent) values.

use crate::buffer::CapacityError;
pub use crate::session::SendError;
use crate::session::{Phase, ProtocolError};
use core::fmt;

/// Why a connection ended. After any of these the protocol state is closed; the caller
/// closes the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// A received payload did not fit where it had to be stored (a buffer that could not
    /// grow to a length within its limit).
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
    /// Maps the transport error, keeping every other variant.
    pub fn map_transport<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Self::Transport(e) => Error::Transport(f(e)),
            Self::WriteZero => Error::WriteZero,
            Self::Protocol(e) => Error::Protocol(e),
            Self::Closed => Error::Closed,
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

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::WriteZero => f.write_str("transport wrote zero bytes"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Closed => f.write_str("connection closed by peer"),
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
            Self::Capacity(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a call that starts a send and waits for its end failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransmitError<E> {
    /// The send could not start; nothing was sent and the connection is as it was.
    Send(SendError),
    /// The connection ended (before or during the send).
    Connection(Error<E>),
}

impl<E> From<SendError> for TransmitError<E> {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

impl<E> From<Error<E>> for TransmitError<E> {
    fn from(e: Error<E>) -> Self {
        Self::Connection(e)
    }
}

impl<E: fmt::Display> fmt::Display for TransmitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::Connection(e) => e.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for TransmitError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Send(e) => e.source(),
            Self::Connection(e) => e.source(),
        }
    }
}
