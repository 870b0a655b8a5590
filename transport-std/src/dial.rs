//! Resolving an address and connecting to it: for the client and the blocking connection.

use crate::error::StartError;
use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Resolves `addr` and connects to the first address that answers.
pub(crate) fn connect_stream(
    addr: impl ToSocketAddrs + fmt::Debug,
    timeout: Option<Duration>,
) -> Result<TcpStream, StartError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| StartError::Resolve {
            addr: format!("{addr:?}"),
            source,
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == ErrorKind::TimedOut => last = Some(StartError::ConnectTimeout),
            Err(e) => last = Some(StartError::Io(e)),
        }
    }
    Err(last.unwrap_or(StartError::NoAddress))
}
