//! Error types: a connection's [`Error`], and why a connect or a bind failed.

use std::fmt;
use std::io;

/// Every protocol or socket failure of a connection: the core's error over [`io::Error`].
/// Each one ends the connection; what it survives (a refusal either way, a plugin's refusal)
/// is an outcome, [`Received`](crate::Received) or [`Sent`](crate::Sent).
pub type Error = tinyproto_core::Error<io::Error>;

/// Why a send failed: it could not start ([`TransmitError::Send`](tinyproto_core::TransmitError::Send):
/// nothing was sent, the connection goes on), or the connection failed.
pub type TransmitError = tinyproto_core::TransmitError<io::Error>;

/// Why [`connect`](crate::connect) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name did not resolve, or resolved to no address.
    Resolve(io::Error),
    /// Every address refused or failed; the last address's error.
    Io(io::Error),
    /// No address answered within the connect timeout.
    Timeout,
    /// The TCP connection was made but the init handshake failed (for example the server is
    /// at its connection limit: `ProtocolError::ConnectionLimit`).
    Handshake(Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resolve(e) => write!(f, "cannot resolve the address: {e}"),
            Self::Io(e) => write!(f, "cannot connect: {e}"),
            Self::Timeout => f.write_str("connect timed out"),
            Self::Handshake(e) => write!(f, "init handshake failed: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve(e) | Self::Io(e) => Some(e),
            Self::Handshake(e) => Some(e),
            Self::Timeout => None,
        }
    }
}

/// Why [`ListenerBuilder::bind`](crate::ListenerBuilder::bind) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BindError {
    /// No listen address was given.
    NoAddress,
    /// An address did not resolve.
    Resolve {
        /// The address as given.
        addr: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// Binding or listening failed.
    Io {
        /// The address being bound.
        addr: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAddress => f.write_str("no listen address given"),
            Self::Resolve { addr, source } => write!(f, "cannot resolve {addr}: {source}"),
            Self::Io { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NoAddress => None,
            Self::Resolve { source, .. } | Self::Io { source, .. } => Some(source),
        }
    }
}
