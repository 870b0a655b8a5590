//! Error types: why a connection closed, why an operation on it failed, why a server or client
//! could not start or connect.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// Every protocol or socket failure of one connection: the core's error over [`io::Error`].
pub type Error = tinyproto_core::Error<io::Error>;

/// Why [`TcpConnection::transmit`](crate::TcpConnection::transmit) failed: the send could not
/// start, or the connection ended.
pub type TransmitError = tinyproto_core::TransmitError<io::Error>;

/// Why a connection ended; handed to [`ServerHooks::conn_shutdown`](crate::ServerHooks::conn_shutdown)
/// and carried by [`ConnError::Closed`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed between two messages: a normal end.
    PeerClosed,
    /// Closed on our side: [`Conn::shutdown`](crate::Conn::shutdown) or
    /// [`ConnectionHandle::close`](crate::ConnectionHandle::close).
    Local,
    /// The server or client shut down.
    Shutdown,
    /// A hook panicked, or the handler's `Drop` did; the connection was closed without
    /// `post_loop`.
    HookPanicked,
    /// A plugin panicked (plugins run on the I/O thread); only this connection was closed.
    PluginPanicked,
    /// The peer broke the protocol, stalled past a timeout, or the socket failed.
    Failed(Arc<Error>),
}

impl CloseReason {
    /// The protocol, timeout or socket error, when the connection failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the connection ended normally (closed by either side or by a shutdown).
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::PeerClosed | Self::Local | Self::Shutdown)
    }
}

impl From<Error> for CloseReason {
    fn from(e: Error) -> Self {
        match e {
            Error::Closed => Self::PeerClosed,
            e => Self::Failed(Arc::new(e)),
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::Local => f.write_str("closed locally"),
            Self::Shutdown => f.write_str("shut down"),
            Self::HookPanicked => f.write_str("a hook panicked"),
            Self::PluginPanicked => f.write_str("a plugin panicked"),
            Self::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CloseReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error().map(|e| e as _)
    }
}

/// Why [`Conn::transmit`](crate::Conn::transmit), [`Conn::receive`](crate::Conn::receive) or a
/// send through a [`ConnectionHandle`](crate::ConnectionHandle) failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnError {
    /// The peer answered our header with `0x00` (the message is too large for it). Nothing was
    /// sent; the connection stays usable.
    Rejected {
        /// Length we announced.
        len: u32,
    },
    /// The message could not be sent (a plugin refused it, or it exceeds the protocol maximum);
    /// the connection stays usable.
    Send(tinyproto_core::session::SendError),
    /// Too many messages are queued for this connection already
    /// ([`max_queued`](crate::ServerBuilder::max_queued)); nothing was queued.
    QueueFull,
    /// No message arrived in time ([`Conn::receive_timeout`](crate::Conn::receive_timeout));
    /// the connection stays usable.
    Timeout,
    /// The connection is closed.
    Closed(CloseReason),
    /// No open connection has this id ([`ServerHandle::send_to`](crate::ServerHandle::send_to)):
    /// it never existed, or it closed and was removed.
    UnknownConnection,
    /// The call would wait for the I/O thread from the I/O thread itself: `receive` in an
    /// [inline hook](crate::ServerBuilder::inline_hooks), or a waiting
    /// [`ConnectionHandle::transmit`](crate::ConnectionHandle::transmit) there. Nothing was
    /// done.
    WouldBlockInline,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { len } => write!(f, "peer rejected our message of {len} bytes"),
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::QueueFull => f.write_str("send queue full"),
            Self::Timeout => f.write_str("no message arrived in time"),
            Self::Closed(reason) => write!(f, "connection closed: {reason}"),
            Self::UnknownConnection => f.write_str("no open connection has this id"),
            Self::WouldBlockInline => f.write_str("cannot wait inside an inline hook"),
        }
    }
}

impl std::error::Error for ConnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Send(e) => Some(e),
            Self::Closed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// Why a server could not start or a client could not connect.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// No listen address was configured.
    NoAddress,
    /// A host name did not resolve (or resolved to nothing).
    Resolve {
        /// The address as given (debug-formatted).
        addr: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// A listen address could not be opened (the server's
    /// [`bind`](crate::ServerBuilder::bind)); the listeners opened before it are closed again.
    Listen {
        /// The address, as resolved.
        addr: SocketAddr,
        /// What failed.
        step: ListenStep,
        /// What the system said (`AddrInUse` for a port taken, `PermissionDenied` for a
        /// privileged one).
        source: io::Error,
    },
    /// A socket operation failed (connect, thread spawn).
    Io(io::Error),
    /// Connecting did not complete within the connect timeout.
    ConnectTimeout,
    /// The TCP connection was made but the init handshake failed (for example the server is
    /// at its connection limit: [`tinyproto_core::session::ProtocolError::ConnectionLimit`]).
    Handshake(CloseReason),
    /// The client's background threads have stopped.
    Stopped,
    /// The I/O thread died (a panic outside any plugin or hook: a bug in this crate); every
    /// connection it served was dropped.
    IoThreadDied,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAddress => f.write_str("no listen address configured"),
            Self::Resolve { addr, source } => write!(f, "cannot resolve {addr}: {source}"),
            Self::Listen { addr, step, source } => {
                write!(f, "cannot listen on {addr}: {step} failed: {source}")
            }
            Self::Io(e) => e.fmt(f),
            Self::ConnectTimeout => f.write_str("connect timed out"),
            Self::Handshake(reason) => write!(f, "init handshake failed: {reason}"),
            Self::Stopped => f.write_str("the client has stopped"),
            Self::IoThreadDied => f.write_str("the I/O thread died"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. } | Self::Listen { source, .. } => Some(source),
            Self::Io(e) => Some(e),
            Self::Handshake(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The step of opening a listen address that failed ([`StartError::Listen`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenStep {
    /// Creating the socket or setting its options (address reuse, IPv6 only, non-blocking).
    Socket,
    /// Binding it to the address (a port in use, a privileged port, an address not ours).
    Bind,
    /// Listening, or reading back the bound address.
    Listen,
}

impl fmt::Display for ListenStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Socket => "socket setup",
            Self::Bind => "bind",
            Self::Listen => "listen",
        })
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
