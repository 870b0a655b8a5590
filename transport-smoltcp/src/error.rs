//! Errors: what the smoltcp socket reports, why a connect could not start, why a connection ended.

use core::fmt;
use smoltcp::socket::tcp;

/// What a smoltcp TCP socket reported: the transport error of [`Error`].
///
/// smoltcp's own results map as follows: `recv_slice`/`send_slice` returning `Ok(0)` means
/// "not now" (never an error and never end of stream); `RecvError::Finished` is the peer's
/// FIN, which the protocol core turns into [`Error::Closed`] at a message boundary or
/// [`ProtocolError::UnexpectedEof`](tinyproto_core::session::ProtocolError::UnexpectedEof)
/// inside a message; a socket that dropped to `Closed` without a FIN is [`TcpError::Reset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TcpError {
    /// The connection was reset by the peer, or aborted by smoltcp because the peer stopped
    /// answering (retransmission timeout or keep-alive, see
    /// [`Config::tcp_timeout`](crate::Config::tcp_timeout)).
    Reset,
    /// The connection was never established: the peer answered the SYN with a reset, or did
    /// not answer it in time.
    ConnectFailed,
    /// The socket was in a state that does not allow the operation (a socket that somebody
    /// else closed or re-used behind our back).
    InvalidState {
        /// The state the socket was in.
        state: tcp::State,
    },
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reset => f.write_str("connection reset or timed out at the TCP level"),
            Self::ConnectFailed => f.write_str("connection could not be established"),
            Self::InvalidState { state } => write!(f, "TCP socket in unexpected state {state}"),
        }
    }
}

impl core::error::Error for TcpError {}

impl embedded_io::Error for TcpError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Self::Reset => embedded_io::ErrorKind::ConnectionReset,
            Self::ConnectFailed => embedded_io::ErrorKind::ConnectionRefused,
            Self::InvalidState { .. } => embedded_io::ErrorKind::NotConnected,
        }
    }
}

/// Every failure of a connection: the core's error over [`TcpError`].
pub type Error = tinyproto_core::Error<TcpError>;

/// Why [`Client::connect`](crate::Client::connect) could not start a connection. Nothing was
/// changed: no socket is left half-open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnectError {
    /// Every socket of the pool is in use (or still closing).
    NoFreeSocket,
    /// The client was stopped.
    Stopped,
    /// smoltcp refused the endpoints (port 0, unspecified address, no route or source address).
    Tcp(tcp::ConnectError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFreeSocket => f.write_str("no free socket in the pool"),
            Self::Stopped => f.write_str("the client is stopped"),
            Self::Tcp(e) => write!(f, "smoltcp refused to connect: {e}"),
        }
    }
}

impl core::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Tcp(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a connection ended, as reported to
/// [`ServerHooks::conn_shutdown`](crate::ServerHooks::conn_shutdown) and
/// [`ClientHooks::conn_shutdown`](crate::ClientHooks::conn_shutdown).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Shutdown {
    /// The peer closed at a message boundary (a normal end).
    PeerClosed,
    /// Our side closed it: [`Conn::shutdown`](crate::Conn::shutdown), or the server or
    /// client was stopped.
    Local,
    /// The connection failed; the error says how.
    Failed(Error),
}

impl fmt::Display for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::Local => f.write_str("closed locally"),
            Self::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

impl Shutdown {
    /// The error, when the connection failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl core::error::Error for Shutdown {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.error().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::error::Error as _;

    #[test]
    fn a_failed_shutdown_has_its_error_as_source() {
        let why = Shutdown::Failed(Error::Transport(TcpError::Reset));
        let source = why.source().expect("a source");
        assert_eq!(
            source.to_string(),
            "transport error: connection reset or timed out at the TCP level"
        );
        assert!(Shutdown::PeerClosed.source().is_none());
        assert_eq!(why.error(), Some(&Error::Transport(TcpError::Reset)));
    }
}
