//! One message out, one message in, over a blocking [`TcpConnection`], with errors that name
//! the peer and what we were doing. `send`, `bench` and the `echo-client` example use it.

use crate::addr::HostPort;
use crate::error::Error;
use std::time::Duration;
use tinyproto_std::{Received, Sent, TcpConnection, TransmitError};

/// Sends `msg`; `doing` says what it is in an error (`sending message 2 (5 bytes)`).
///
/// # Errors
/// [`Error::Rejected`] when the peer refused it as too large, [`Error::NotSent`] when it
/// could not be sent, [`Error::Exchange`] when the connection failed.
pub fn send(
    conn: &mut TcpConnection,
    addr: &HostPort,
    msg: Vec<u8>,
    doing: impl Fn() -> String,
) -> Result<(), Error> {
    let addr = || addr.to_string();
    match conn.transmit(msg) {
        Ok(Sent::Written) => Ok(()),
        Ok(Sent::Rejected { len }) => Err(Error::Rejected {
            addr: addr(),
            doing: doing(),
            len,
        }),
        Err(TransmitError::Send(source)) => Err(Error::NotSent {
            addr: addr(),
            doing: doing(),
            source,
        }),
        Err(TransmitError::Connection(source)) => Err(Error::Exchange {
            addr: addr(),
            doing: doing(),
            source,
        }),
    }
}

/// Waits at most `timeout` for the next message; `doing` says what it is in an error
/// (`waiting for the reply to message 2`).
///
/// # Errors
/// [`Error::NoReply`] when nothing arrived in time, [`Error::Refused`] or
/// [`Error::Discarded`] when the message came but was refused (above `--max-size`) or dropped
/// by a plugin, [`Error::Exchange`] when the connection failed.
pub fn receive(
    conn: &mut TcpConnection,
    addr: &HostPort,
    timeout: Duration,
    doing: impl Fn() -> String,
) -> Result<Vec<u8>, Error> {
    let addr = || addr.to_string();
    match conn.receive_timeout(timeout) {
        Ok(Some(Received::Message(msg))) => Ok(msg),
        Ok(Some(Received::Refused { len, limit })) => Err(Error::Refused {
            addr: addr(),
            doing: doing(),
            len,
            limit,
        }),
        Ok(Some(Received::Discarded(source))) => Err(Error::Discarded {
            addr: addr(),
            doing: doing(),
            source,
        }),
        Ok(None) => Err(Error::NoReply {
            addr: addr(),
            doing: doing(),
            after: timeout,
        }),
        Err(source) => Err(Error::Exchange {
            addr: addr(),
            doing: doing(),
            source,
        }),
    }
}
