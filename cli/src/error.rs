//! [`Error`]: every failure of the tool, said once, with the address and the phase.
//!
//! The example programs of this repository use it too, so that `echo-server`, `echo-client`,
//! `chat-server`, `chat-client` and `tinyproto` word their failures alike.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use tinyproto_conformance::runner::RunError;
use tinyproto_core::plugin::PluginError;
use tinyproto_core::session::ProtocolError;
use tinyproto_core::SendError;
use tinyproto_std::{CloseReason, ConnError, StartError};

/// A failure of the tool. Its `Display` is the one line printed before exiting with 1.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A host name did not resolve.
    Resolve {
        /// The address as given.
        addr: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// A listener could not be opened.
    Listen {
        /// The address (or addresses) to listen on.
        addr: String,
        /// What `bind`/`listen` said.
        source: io::Error,
    },
    /// No TCP connection could be made.
    Connect {
        /// The server's address.
        addr: String,
        /// What `connect` said.
        source: io::Error,
    },
    /// The server answered the TCP connection with `0xfe`: it serves as many connections as
    /// it will.
    ConnectionLimit {
        /// The server's address.
        addr: String,
    },
    /// The TCP connection was made, but the init handshake failed.
    Handshake {
        /// The server's address.
        addr: String,
        /// Why.
        reason: CloseReason,
    },
    /// A message could not be sent or received.
    Exchange {
        /// The peer's address.
        addr: String,
        /// What we were doing, like `sending message 2 (5 bytes)`.
        doing: String,
        /// What went wrong.
        source: tinyproto_std::Error,
    },
    /// The peer answered our header with `0x00`: the message is too large for it. Nothing of
    /// it was sent.
    Rejected {
        /// The peer's address.
        addr: String,
        /// What we were doing.
        doing: String,
        /// The length we announced.
        len: u32,
    },
    /// A message could not be sent (longer than the protocol allows, or a plugin refused it).
    NotSent {
        /// The peer's address.
        addr: String,
        /// What we were doing.
        doing: String,
        /// Why.
        source: SendError,
    },
    /// The peer announced a message above `--max-size`: we answered `0x00`.
    Refused {
        /// The peer's address.
        addr: String,
        /// What we were waiting for.
        doing: String,
        /// The length it announced.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// A message arrived whole, but a receive plugin refused it.
    Discarded {
        /// The peer's address.
        addr: String,
        /// What we were waiting for.
        doing: String,
        /// What the plugin said.
        source: PluginError,
    },
    /// A message could not be handed to a connection of a `tinyproto_std::Client` or server.
    Send {
        /// The peer's address.
        addr: String,
        /// What went wrong.
        source: ConnError,
    },
    /// The peer sent nothing in time.
    NoReply {
        /// The peer's address.
        addr: String,
        /// What we were waiting for.
        doing: String,
        /// How long we waited.
        after: Duration,
    },
    /// The conformance runner reached the server once, then could not any more.
    ServerGone {
        /// The server's address.
        addr: String,
        /// The case that could not connect.
        case: &'static str,
        /// Cases judged before.
        judged: usize,
        /// What `connect` said.
        source: io::Error,
    },
    /// A program (the client under test) could not be started.
    Spawn {
        /// The program.
        program: String,
        /// What the system said.
        source: io::Error,
    },
    /// A file (or standard input or output) could not be read or written.
    File {
        /// What we did: `read`, `write`, `create`.
        doing: &'static str,
        /// The file (`-` is standard input or output).
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A server stopped with an error of its own.
    Server {
        /// Where it listened.
        addr: String,
        /// What went wrong.
        source: StartError,
    },
}

impl Error {
    /// The error of opening listeners on `addr` (what `ServerBuilder::bind` returned).
    pub fn listening(addr: impl fmt::Display, e: StartError) -> Error {
        let addr = addr.to_string();
        match e {
            StartError::Listen { source, .. } => Error::Listen { addr, source },
            StartError::Resolve { source, .. } => Error::Resolve { addr, source },
            source => Error::Server { addr, source },
        }
    }

    /// The error of connecting to `addr` (what `TcpConnectionBuilder::connect` returned).
    pub fn connecting(addr: impl fmt::Display, e: StartError) -> Error {
        let addr = addr.to_string();
        match e {
            StartError::Io(source) => Error::Connect { addr, source },
            StartError::ConnectTimeout => Error::Connect {
                addr,
                source: io::ErrorKind::TimedOut.into(),
            },
            StartError::Resolve { source, .. } => Error::Resolve { addr, source },
            StartError::Handshake(reason) => match reason.error() {
                Some(tinyproto_std::Error::Protocol(ProtocolError::ConnectionLimit)) => {
                    Error::ConnectionLimit { addr }
                }
                _ => Error::Handshake { addr, reason },
            },
            source => Error::Server { addr, source },
        }
    }

    /// The error of reading standard input.
    pub fn reading_stdin(source: io::Error) -> Error {
        Error::File {
            doing: "read",
            path: "standard input".into(),
            source,
        }
    }

    /// The error of a conformance run that could not go on.
    pub fn from_run(e: RunError) -> Error {
        match e {
            RunError::Connect {
                addr,
                case,
                judged,
                source,
            } if judged > 0 => Error::ServerGone {
                addr: addr.to_string(),
                case,
                judged,
                source,
            },
            RunError::Connect { addr, source, .. } => Error::Connect {
                addr: addr.to_string(),
                source,
            },
            RunError::Listen { addr, source } => Error::Listen {
                addr: addr.to_string(),
                source,
            },
            RunError::Spawn { program, source } => Error::Spawn { program, source },
        }
    }
}

/// An I/O error the way this tool says it: `connection refused`, not
/// `Connection refused (os error 111)`.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text[..],
    };
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// A connection's error the way this tool says it.
fn describe_exchange(e: &tinyproto_std::Error) -> String {
    match e {
        tinyproto_std::Error::Transport(io) => describe(io),
        tinyproto_std::Error::Closed => "the peer closed the connection".to_owned(),
        other => other.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resolve { addr, source } => {
                write!(f, "cannot resolve {addr}: {}", describe(source))
            }
            Self::Listen { addr, source } => {
                write!(f, "cannot listen on {addr}: {}", describe(source))
            }
            Self::Connect { addr, source } => {
                write!(f, "cannot connect to {addr}: {}", describe(source))
            }
            Self::ConnectionLimit { addr } => {
                write!(f, "{addr} is at its connection limit (0xfe)")
            }
            Self::Handshake { addr, reason } => match reason.error() {
                Some(e) => write!(
                    f,
                    "{addr}: the init handshake failed: {}",
                    describe_exchange(e)
                ),
                None => write!(f, "{addr}: the init handshake failed: {reason}"),
            },
            Self::Exchange {
                addr,
                doing,
                source,
            } => {
                write!(f, "{addr}: {doing}: {}", describe_exchange(source))
            }
            Self::Rejected { addr, doing, len } => write!(
                f,
                "{addr}: {doing}: rejected as too large for it (0x00 for {len} bytes)"
            ),
            Self::NotSent {
                addr,
                doing,
                source,
            } => write!(f, "{addr}: {doing}: cannot send: {source}"),
            Self::Refused {
                addr,
                doing,
                len,
                limit,
            } => write!(
                f,
                "{addr}: {doing}: refused a message of {len} bytes, above --max-size ({limit})"
            ),
            Self::Discarded {
                addr,
                doing,
                source,
            } => write!(f, "{addr}: {doing}: a plugin refused the message: {source}"),
            Self::Send { addr, source } => write!(f, "{addr}: cannot send: {source}"),
            Self::NoReply { addr, doing, after } => {
                write!(f, "{addr}: {doing}: nothing arrived within {after:?}")
            }
            Self::ServerGone {
                addr,
                case,
                judged,
                source,
            } => write!(
                f,
                "cannot connect to {addr} any more (case {case}, after {judged} cases): {}",
                describe(source)
            ),
            Self::Spawn { program, source } => {
                write!(f, "cannot start {program}: {}", describe(source))
            }
            Self::File {
                doing,
                path,
                source,
            } => {
                write!(f, "cannot {doing} {}: {}", path.display(), describe(source))
            }
            Self::Server { addr, source } => write!(f, "{addr}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. }
            | Self::Listen { source, .. }
            | Self::Connect { source, .. }
            | Self::ServerGone { source, .. }
            | Self::Spawn { source, .. }
            | Self::File { source, .. } => Some(source),
            Self::Handshake { reason, .. } => Some(reason),
            Self::Exchange { source, .. } => Some(source),
            Self::Send { source, .. } => Some(source),
            Self::NotSent { source, .. } => Some(source),
            Self::Discarded { source, .. } => Some(source),
            Self::Server { source, .. } => Some(source),
            Self::ConnectionLimit { .. }
            | Self::NoReply { .. }
            | Self::Rejected { .. }
            | Self::Refused { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_their_number_and_capital() {
        let e = io::Error::from_raw_os_error(111);
        assert_eq!(describe(&e), "connection refused");
        let e = Error::Listen {
            addr: "127.0.0.1:9123".into(),
            source: io::Error::from_raw_os_error(98),
        };
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:9123: address already in use"
        );
    }
}
