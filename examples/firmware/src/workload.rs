//! What the firmware clients send and check, and the arguments that choose it.
//!
//! A client run is `hello`, then batches of `COUNT` messages of `SIZE` bytes (deterministic
//! pseudo-random bytes, different for every message), each checked against the seed README's
//! echo reply `Echo back: ` + message, then `SRVQUIT`. The time of each batch is printed.

use crate::clock;
use core::fmt;
use cortex_m_semihosting::hprintln;
use tinyproto_core::connection;
use tinyproto_core::{Received, Sent, TransmitError};

/// The echo server's reply prefix (the seed README's server, and ours).
pub const ECHO_PREFIX: &[u8] = b"Echo back: ";
/// The message that stops the peer server.
pub const SRVQUIT: &[u8] = b"SRVQUIT";
/// The message that closes this connection on the peer server.
pub const QUIT: &[u8] = b"QUIT";
/// Largest message a UART image sends or receives (an echo reply: prefix + 16 KiB).
pub const UART_MAX_MESSAGE: usize = 16 * 1024 + 64;
/// Most batches on one command line.
pub const MAX_BATCHES: usize = 8;

/// `COUNT` messages of `SIZE` bytes, written `COUNTxSIZE` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Messages in the batch.
    pub count: u32,
    /// Bytes per message.
    pub size: usize,
}

/// A bad command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// The host passed no semihosting command line.
    Missing,
    /// A word that is not what its position needs.
    Bad(&'static str),
    /// A batch larger than the firmware's buffers.
    TooLarge {
        /// Bytes asked for.
        size: usize,
        /// The firmware's largest message.
        max: usize,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => {
                f.write_str("no semihosting command line (-semihosting-config arg=...)")
            }
            Self::Bad(what) => write!(f, "bad command line: expected {what}"),
            Self::TooLarge { size, max } => {
                write!(f, "message of {size} B above this firmware's {max} B")
            }
        }
    }
}

impl core::error::Error for ArgError {}

/// Parses the `COUNTxSIZE` words; sizes above `max` are refused.
pub fn parse_batches<'a>(
    words: impl Iterator<Item = &'a str>,
    max: usize,
) -> Result<heapless::Vec<Batch, MAX_BATCHES>, ArgError> {
    let mut batches = heapless::Vec::new();
    for word in words {
        let (count, size) = word.split_once('x').ok_or(ArgError::Bad("COUNTxSIZE"))?;
        let batch = Batch {
            count: count
                .parse()
                .map_err(|_| ArgError::Bad("a message count"))?,
            size: size.parse().map_err(|_| ArgError::Bad("a message size"))?,
        };
        if batch.size > max {
            return Err(ArgError::TooLarge {
                size: batch.size,
                max,
            });
        }
        batches
            .push(batch)
            .map_err(|_| ArgError::Bad("at most 8 batches"))?;
    }
    Ok(batches)
}

/// The bytes of message number `index` (an xorshift stream seeded by the index).
fn payload(index: u32) -> impl Iterator<Item = u8> {
    let mut state = index.wrapping_mul(0x9e37_79b9) | 1;
    core::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    })
}

/// A reply that is not the echo of what we sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which message (0 is `hello`).
    pub index: u32,
    /// Its size.
    pub sent: usize,
    /// The reply's size.
    pub received: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MISMATCH: reply to message {} ({} B) is {} B and not its echo",
            self.index, self.sent, self.received
        )
    }
}

impl core::error::Error for Mismatch {}

/// A message of the script that did not make it, on a connection that goes on: the peer
/// rejected it, it could not be sent, or we refused or discarded its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost {
    /// Which message (0 is `hello`).
    pub index: u32,
    /// What became of it.
    pub why: connection::Failure,
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {} did not make it: {}", self.index, self.why)
    }
}

impl core::error::Error for Lost {}

/// The client's plan, one message at a time: `hello`, the batches, then `SRVQUIT`.
pub struct Script {
    batches: heapless::Vec<Batch, MAX_BATCHES>,
    /// The batch of the message in flight; `None` while `hello` is.
    batch: Option<usize>,
    /// Messages of that batch already answered.
    done: u32,
    /// Index of the message in flight (0 = `hello`).
    index: u32,
    batch_start_ms: u64,
}

impl Script {
    /// A run of `hello` then `batches`.
    pub fn new(batches: heapless::Vec<Batch, MAX_BATCHES>) -> Self {
        Self {
            batches,
            batch: None,
            done: 0,
            index: 0,
            batch_start_ms: 0,
        }
    }

    /// Writes the message in flight into `buf` (at least as large as the largest batch) and
    /// returns it; `None` once every message was answered (send `SRVQUIT` then).
    pub fn message<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match self.batch {
            None => {
                buf[..5].copy_from_slice(b"hello");
                Some(&buf[..5])
            }
            Some(b) => {
                let size = self.batches.get(b)?.size;
                for (dst, src) in buf[..size].iter_mut().zip(payload(self.index)) {
                    *dst = src;
                }
                Some(&buf[..size])
            }
        }
    }

    /// Checks the reply to the message in flight, then moves to the next one (printing the
    /// time of a batch when its last message is answered).
    pub fn check_reply(&mut self, reply: &[u8]) -> Result<(), Mismatch> {
        let (expected, size): (&mut dyn Iterator<Item = u8>, usize) = match self.batch {
            None => (&mut b"hello".iter().copied(), 5),
            Some(b) => {
                let size = self.batches.get(b).map_or(0, |b| b.size);
                (&mut payload(self.index).take(size), size)
            }
        };
        let ok = reply.len() == ECHO_PREFIX.len() + size
            && reply.starts_with(ECHO_PREFIX)
            && reply[ECHO_PREFIX.len()..].iter().copied().eq(expected);
        if !ok {
            return Err(Mismatch {
                index: self.index,
                sent: size,
                received: reply.len(),
            });
        }
        self.index += 1;
        self.advance();
        Ok(())
    }

    /// Steps to the next message, skipping empty batches and reporting finished ones.
    fn advance(&mut self) {
        match self.batch {
            None => {
                hprintln!("hello: echoed");
                self.batch = Some(0);
                self.batch_start_ms = clock::millis();
            }
            Some(_) => self.done += 1,
        }
        while let Some(b) = self.batch {
            let Some(batch) = self.batches.get(b) else {
                return;
            };
            if self.done < batch.count {
                return;
            }
            let ms = clock::millis() - self.batch_start_ms;
            hprintln!("batch {} x {} B: {} ms", batch.count, batch.size, ms);
            self.batch = Some(b + 1);
            self.done = 0;
            self.batch_start_ms = clock::millis();
        }
    }

    /// Messages answered so far (`hello` included).
    pub fn answered(&self) -> u32 {
        self.index
    }

    /// The message in flight did not make it, because of `why`.
    pub fn lost(&self, why: connection::Failure) -> Lost {
        Lost {
            index: self.index,
            why,
        }
    }

    /// What a UART client's `transmit` of the message in flight returned: a message the peer
    /// rejected, or one that could not be sent, is lost and ends the run.
    pub fn sent<E>(&self, sent: Result<Sent, TransmitError<E>>) -> Result<(), Failure<E>> {
        match sent {
            Ok(Sent::Written) => Ok(()),
            Ok(Sent::Rejected { len }) => {
                Err(self.lost(connection::Failure::Rejected { len }).into())
            }
            Err(TransmitError::Send(e)) => Err(self.lost(connection::Failure::Send(e)).into()),
            Err(TransmitError::Connection(e)) => Err(e.into()),
        }
    }

    /// What a UART client's `receive` returned for the message in flight: checks the reply
    /// ([`Script::check_reply`]); a reply we refused (above our limit) or discarded ends the
    /// run.
    pub fn received<E>(
        &mut self,
        received: Result<Received<&[u8]>, tinyproto_core::Error<E>>,
    ) -> Result<(), Failure<E>> {
        match received? {
            Received::Message(reply) => Ok(self.check_reply(reply)?),
            Received::Refused { len, limit } => Err(self
                .lost(connection::Failure::Refused { len, limit })
                .into()),
            Received::Discarded(e) => Err(self.lost(connection::Failure::Discarded(e)).into()),
        }
    }
}

/// Why a UART run failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// The tinyproto connection failed.
    Link(tinyproto_core::Error<E>),
    /// A reply was not the echo of its message.
    Mismatch(Mismatch),
    /// A message did not make it (the connection went on, the run cannot).
    Lost(Lost),
}

impl<E> From<tinyproto_core::Error<E>> for Failure<E> {
    fn from(e: tinyproto_core::Error<E>) -> Self {
        Self::Link(e)
    }
}

impl<E> From<Mismatch> for Failure<E> {
    fn from(m: Mismatch) -> Self {
        Self::Mismatch(m)
    }
}

impl<E> From<Lost> for Failure<E> {
    fn from(l: Lost) -> Self {
        Self::Lost(l)
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Link(e) => write!(f, "tinyproto over the UART: {e}"),
            Self::Mismatch(m) => m.fmt(f),
            Self::Lost(l) => l.fmt(f),
        }
    }
}

/// What an echo server does next with what `receive` returned.
pub enum Next<E> {
    /// Send the first `len` bytes of the reply buffer.
    Reply(usize),
    /// Nothing to answer: a message refused as too large, or discarded (the stream is in sync).
    Skip,
    /// End the run: `QUIT` or `SRVQUIT` (a UART has no close), or a failure.
    Stop(Result<(), Failure<E>>),
}

/// The echo server's step: builds `Echo back: ` + message in `reply` (at least as large as the
/// connection's buffer plus the prefix).
pub fn echo_step<E>(
    received: Result<Received<&[u8]>, tinyproto_core::Error<E>>,
    reply: &mut [u8],
) -> Next<E> {
    match received {
        Ok(Received::Message(msg)) if msg == QUIT || msg == SRVQUIT => Next::Stop(Ok(())),
        Ok(Received::Message(msg)) => {
            let len = ECHO_PREFIX.len() + msg.len();
            reply[..ECHO_PREFIX.len()].copy_from_slice(ECHO_PREFIX);
            reply[ECHO_PREFIX.len()..len].copy_from_slice(msg);
            Next::Reply(len)
        }
        Ok(Received::Refused { len, limit }) => {
            hprintln!("refused a message of {} B (limit {} B)", len, limit);
            Next::Skip
        }
        Ok(Received::Discarded(e)) => {
            hprintln!("discarded a message: {}", e);
            Next::Skip
        }
        Err(e) => Next::Stop(Err(e.into())),
    }
}

/// What the echo server's `transmit` of a reply returned: `true` once written. A reply the
/// peer rejected, or one that could not be sent, is reported and the server goes on (the
/// stream is in sync); only the end of the connection is an error.
pub fn reply_sent<E>(
    sent: Result<Sent, TransmitError<E>>,
) -> Result<bool, tinyproto_core::Error<E>> {
    match sent {
        Ok(Sent::Written) => Ok(true),
        Ok(Sent::Rejected { len }) => {
            hprintln!("peer rejected our reply of {} B", len);
            Ok(false)
        }
        Err(TransmitError::Send(e)) => {
            hprintln!("reply not sent: {}", e);
            Ok(false)
        }
        Err(TransmitError::Connection(e)) => Err(e),
    }
}

/// Reports a client run and ends it.
pub fn client_done<E: fmt::Display>(outcome: Result<u32, Failure<E>>) -> ! {
    match outcome {
        Ok(n) => {
            hprintln!("client: {} messages echoed, SRVQUIT sent", n);
            crate::finish(Ok(()))
        }
        Err(e) => crate::finish(Err(&e)),
    }
}

/// Reports a server run and ends it.
pub fn server_done<E: fmt::Display>(served: u32, outcome: Result<(), Failure<E>>) -> ! {
    hprintln!("server: {} messages echoed", served);
    match outcome {
        Ok(()) => crate::finish(Ok(())),
        Err(e) => crate::finish(Err(&e)),
    }
}

/// The UART images' two message buffers (the connection's, and the client's message or the
/// server's reply), the first time only.
pub fn uart_buffers() -> Option<[&'static mut [u8; UART_MAX_MESSAGE]; 2]> {
    let conn = cortex_m::singleton!(: [u8; UART_MAX_MESSAGE] = [0; UART_MAX_MESSAGE])?;
    let scratch = cortex_m::singleton!(: [u8; UART_MAX_MESSAGE] = [0; UART_MAX_MESSAGE])?;
    Some([conn, scratch])
}
