//! A byte-level client for the runner's cases: it writes exactly what a case says (malformed
//! bytes included) and reads with a deadline, reporting what it saw as a failed expectation.

use super::Stop;
use crate::transcript::short_hex;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tinyproto_core::wire::{LengthHeader, SC_CONLIMIT, SC_OK};

/// How a connection ended, as seen by [`Raw::wait_close`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// The server closed (FIN) after sending these bytes.
    Closed(Vec<u8>),
    /// The server reset the connection after sending these bytes.
    Reset(Vec<u8>),
    /// Still open at the deadline, after these bytes.
    Open(Vec<u8>),
}

/// One raw TCP connection to the server under test.
pub(super) struct Raw {
    stream: TcpStream,
    limit: Duration,
}

impl Raw {
    /// Connects within `limit`; every later read waits at most `limit` too.
    /// A connection that fails stops the run ([`Stop::Unreachable`]).
    pub(super) fn connect(addr: SocketAddr, limit: Duration) -> Result<Raw, Stop> {
        let stream = TcpStream::connect_timeout(&addr, limit).map_err(Stop::Unreachable)?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(limit));
        Ok(Raw { stream, limit })
    }

    /// Wraps a connection accepted from a client under test.
    pub(super) fn accepted(stream: TcpStream, limit: Duration) -> Raw {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(limit));
        Raw { stream, limit }
    }

    /// Connects and completes the init handshake (see [`Raw::admitted`]).
    pub(super) fn ready(addr: SocketAddr, limit: Duration) -> Result<Raw, Stop> {
        Raw::admitted(addr, limit, true)
    }

    /// Connects, sends our init byte `ff` if `send_init`, and reads the server's init byte,
    /// which must be `ff`.
    ///
    /// A server that answers `fe` (at its connection limit) is asked again every 20 ms until
    /// `limit` has passed: the runner's own connections of the case before (the `conlimit`
    /// cases hold as many as the limit) may not have been released yet, and a server may
    /// notice a close a little later. Only the `conlimit` cases judge the refusal itself.
    pub(super) fn admitted(
        addr: SocketAddr,
        limit: Duration,
        send_init: bool,
    ) -> Result<Raw, Stop> {
        let deadline = Instant::now() + limit;
        loop {
            let mut raw = Raw::connect(addr, limit)?;
            if send_init {
                raw.send(&[SC_OK])?;
            }
            let got = raw.read(1, "the server's init byte ff")?;
            match got[..] {
                [SC_OK] => return Ok(raw),
                [SC_CONLIMIT] if Instant::now() < deadline => {
                    drop(raw);
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    return Err(Stop::fail(
                        "the server's init byte ff (ff)",
                        short_hex(&got),
                    ))
                }
            }
        }
    }

    /// Writes all of `bytes`.
    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.stream.write_all(bytes).map_err(|e| {
            Stop::fail(
                format!("to write {}", short_hex(bytes)),
                format!("write failed: {e}"),
            )
        })
    }

    /// Reads exactly `n` bytes within the deadline.
    pub(super) fn read(&mut self, n: usize, what: &str) -> Result<Vec<u8>, Stop> {
        let deadline = Instant::now() + self.limit;
        let mut buf = vec![0; n];
        let mut got = 0;
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::fail(
                    what,
                    format!(
                        "{} of {n} bytes within {:?}: {}",
                        got,
                        self.limit,
                        short_hex(&buf[..got])
                    ),
                ));
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(Stop::fail(
                        what,
                        format!("connection closed after {got} of {n} bytes"),
                    ))
                }
                Ok(k) => got += k,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::fail(what, format!("{e} after {got} of {n} bytes"))),
            }
        }
        Ok(buf)
    }

    /// Reads `want.len()` bytes and checks them.
    pub(super) fn expect(&mut self, want: &[u8], what: &str) -> Result<(), Stop> {
        let got = self.read(want.len(), what)?;
        if got == want {
            Ok(())
        } else {
            Err(Stop::fail(
                format!("{what} ({})", short_hex(want)),
                short_hex(&got),
            ))
        }
    }

    /// Sends a whole message: header, the status byte `ff`, payload.
    pub(super) fn send_message(&mut self, msg: &[u8]) -> Result<(), Stop> {
        self.send(&LengthHeader::new(msg.len() as u32).to_bytes())?;
        self.expect(&[SC_OK], "status ff for our header")?;
        self.send(msg)
    }

    /// Receives a whole message: header, we answer `ff`, payload.
    pub(super) fn receive_message(&mut self) -> Result<Vec<u8>, Stop> {
        let header = self.read(4, "a length header")?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        self.send(&[SC_OK])?;
        self.read(len as usize, "the payload")
    }

    /// Sends `msg` and checks that the answer is `want`.
    pub(super) fn round_trip(&mut self, msg: &[u8], want: &[u8]) -> Result<(), Stop> {
        self.send_message(msg)?;
        let got = self.receive_message()?;
        if got == want {
            Ok(())
        } else {
            Err(Stop::fail(short_hex(want), short_hex(&got)))
        }
    }

    /// Half-closes: the server sees end of stream, we can still read.
    pub(super) fn finish(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads until the server closes or `limit` passes.
    pub(super) fn wait_close(&mut self, limit: Duration) -> Ending {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ending::Open(seen);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return Ending::Closed(seen),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Ending::Reset(seen),
            }
        }
    }
}

impl Ending {
    /// Passes when the server closed (or reset) without sending anything.
    pub(super) fn closed_silently(self, what: &str) -> Result<(), Stop> {
        match self {
            Ending::Closed(b) | Ending::Reset(b) if b.is_empty() => Ok(()),
            Ending::Closed(b) => Err(Stop::fail(what, format!("{}, then close", short_hex(&b)))),
            Ending::Reset(b) => Err(Stop::fail(what, format!("{}, then reset", short_hex(&b)))),
            Ending::Open(b) if b.is_empty() => Err(Stop::fail(what, "still open, silent")),
            Ending::Open(b) => Err(Stop::fail(what, format!("{}, still open", short_hex(&b)))),
        }
    }
}
