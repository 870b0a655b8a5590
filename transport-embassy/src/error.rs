//! Why a connection could not be made.

use core::fmt;

use embassy_net::tcp;
use tinyproto_core::Error;

/// Why [`Server::accept`](crate::Server::accept) made no connection. The socket is closed and
/// free for the next `accept` either way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AcceptError {
    /// The socket could not listen (already in use, port 0), or the peer reset the TCP
    /// handshake.
    Listen(tcp::AcceptError),
    /// TCP connected but the init handshake failed: a wrong init byte
    /// ([`Error::Protocol`]), a close ([`Error::Closed`]) or no byte within the
    /// [handshake limit](crate::Config::handshake) ([`Error::Timeout`]).
    Handshake(Error<tcp::Error>),
}

/// Why [`connect`](crate::connect) made no connection. The socket is closed and free again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP did not connect (refused, no route, or not within the
    /// [connect limit](crate::Config::connect): `TimedOut`).
    Connect(tcp::ConnectError),
    /// TCP connected but the init handshake failed. A server at its connection limit is
    /// [`ProtocolError::InitRefused`](tinyproto_core::session::ProtocolError::InitRefused)
    /// inside [`Error::Protocol`] (its `0xfe`, or Python 2.0.1's silent close).
    Handshake(Error<tcp::Error>),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listen(tcp::AcceptError::InvalidState) => f.write_str("socket already in use"),
            Self::Listen(tcp::AcceptError::InvalidPort) => f.write_str("cannot listen on port 0"),
            Self::Listen(tcp::AcceptError::ConnectionReset) => {
                f.write_str("the peer reset the TCP handshake")
            }
            Self::Handshake(e) => write!(f, "init handshake failed: {e}"),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // embassy-net's own `Display` says only "ConnectError": name the variant.
            Self::Connect(e) => write!(f, "TCP connect failed: {e:?}"),
            Self::Handshake(e) => write!(f, "init handshake failed: {e}"),
        }
    }
}

impl core::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Listen(_) => None,
            Self::Handshake(e) => Some(e),
        }
    }
}

impl core::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Connect(e) => Some(e),
            Self::Handshake(e) => Some(e),
        }
    }
}
