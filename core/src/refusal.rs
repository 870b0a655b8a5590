//! The refusal of a connection over the limit (PROTOCOL.md, Q1), once for every transport: a
//! sans-IO machine that a server runs beside its connections, with the time passed in.
//!
//! A server at its limit accepts the connection anyway and answers the single byte `0xfe`;
//! then it lingers, reading and dropping what the peer sends (its init byte), until the peer
//! closes or a deadline passes, and only then closes. Closing with the peer's bytes unread
//! would make the TCP stack send a reset, which can destroy our `0xfe` before the peer reads
//! it. Once the refusal is [`Done`](RefusalStep::Done) the transport closes the socket (and a
//! transport whose listening socket served the refusal, like smoltcp's, re-arms it).
//!
//! ```
//! use tinyproto_core::refusal::{Refusal, RefusalStep};
//! use tinyproto_core::transport::Transport;
//!
//! /// A client that sent its init byte; it closes once it has read our answer.
//! struct Client { input: &'static [u8], closed: bool, output: heapless::Vec<u8, 4> }
//! impl Transport for Client {
//!     type Error = core::convert::Infallible;
//!     fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
//!         if self.input.is_empty() {
//!             return Ok(self.closed.then_some(0)); // `Some(0)`: end of stream
//!         }
//!         let n = buf.len().min(self.input.len());
//!         buf[..n].copy_from_slice(&self.input[..n]);
//!         self.input = &self.input[n..];
//!         Ok(Some(n))
//!     }
//!     fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
//!         self.output.extend_from_slice(buf).unwrap();
//!         Ok(Some(buf.len()))
//!     }
//! }
//!
//! let mut client = Client { input: &[0xff], closed: false, output: heapless::Vec::new() };
//! let mut refusal = Refusal::new(0, 1_000);
//! // The answer goes out (half-close now if the transport can); the init byte is dropped.
//! assert_eq!(refusal.poll(&mut client, 0), RefusalStep::Answered);
//! assert_eq!(client.output, [0xfe]);
//! client.closed = true;
//! assert_eq!(refusal.poll(&mut client, 5), RefusalStep::Done { timed_out: false });
//! ```

use crate::transport::Transport;
use crate::wire::SC_CONLIMIT;

/// How long a refused peer may take to read our answer and close, unless the transport says
/// otherwise: the default of [`Refusal::new`]'s `linger_ms` in this workspace's transports.
pub const LINGER_MS: u32 = 1_000;

/// Most reads of the peer's bytes one [`Refusal::poll`] does.
const SINK_READS: usize = 16;

/// One refused connection: the answer owed, then the linger. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Refusal {
    deadline: u64,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State {
    /// The `0xfe` is still to be written.
    Answer,
    /// The answer is out; dropping the peer's bytes until it closes.
    Linger,
    /// The peer closed or failed.
    Closed,
    /// The deadline passed first.
    Expired,
}

/// What [`Refusal::poll`] asks of the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RefusalStep {
    /// Nothing to do until the peer sends, closes, or [`Refusal::poll_at`] comes.
    Waiting,
    /// The `0xfe` is out, in this poll: a transport that can half-close (send its FIN while
    /// still reading) does it now, so that the peer sees the end of our stream.
    Answered,
    /// Close the connection now: the peer closed (or failed), or the deadline passed
    /// (`timed_out`; the peer is still there, so a transport may as well abort).
    Done {
        /// The deadline passed before the peer closed.
        timed_out: bool,
    },
}

impl Refusal {
    /// A refusal of a connection accepted at `now`, lingering at most `linger_ms` in all
    /// (answer included).
    pub const fn new(now: u64, linger_ms: u32) -> Self {
        Self {
            deadline: now.saturating_add(linger_ms as u64),
            state: State::Answer,
        }
    }

    /// When to poll at the latest (the deadline), or `None` once done.
    pub fn poll_at(&self) -> Option<u64> {
        match self.state {
            State::Closed | State::Expired => None,
            _ => Some(self.deadline),
        }
    }

    /// Whether the refusal is over (the connection is to be closed).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Closed | State::Expired)
    }

    /// The answer still to be written: `[0xfe]`, then nothing.
    pub fn pending_output(&self) -> &'static [u8] {
        match self.state {
            State::Answer => &[SC_CONLIMIT],
            _ => &[],
        }
    }

    /// Reports that `n` bytes of [`Refusal::pending_output`] were written; `true` when that
    /// put the answer out (the moment to half-close).
    pub fn output_written(&mut self, n: usize) -> bool {
        let answered = n > 0 && self.state == State::Answer;
        if answered {
            self.state = State::Linger;
        }
        answered
    }

    /// Reports that the peer closed (or its connection failed): the refusal is done.
    pub fn peer_closed(&mut self) {
        self.state = State::Closed;
    }

    /// Ends the refusal if `now` is past its deadline; `true` when it ended this way (the
    /// peer is still there: a transport may as well abort).
    pub fn check_deadline(&mut self, now: u64) -> bool {
        let expired = !self.is_done() && now >= self.deadline;
        if expired {
            self.state = State::Expired;
        }
        expired
    }

    /// Moves what can move over `io` without blocking: writes the answer, then reads and
    /// drops what the peer sent, and reports what the transport has to do. A transport error
    /// ends the refusal (the peer is gone).
    pub fn poll<T: Transport + ?Sized>(&mut self, io: &mut T, now: u64) -> RefusalStep {
        let mut step = RefusalStep::Waiting;
        let answer = self.pending_output();
        if !answer.is_empty() {
            match io.write(answer).and_then(|n| io.flush().map(|()| n)) {
                Ok(n) => {
                    if self.output_written(n.unwrap_or(0)) {
                        step = RefusalStep::Answered;
                    }
                }
                Err(_) => self.peer_closed(),
            }
        }
        if self.state == State::Linger {
            // A few reads per poll: a peer that keeps sending cannot hold the caller, and is
            // cut off at the deadline.
            let mut sink = [0u8; 64];
            for _ in 0..SINK_READS {
                match io.read(&mut sink) {
                    Ok(Some(0)) | Err(_) => {
                        self.peer_closed();
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
        }
        self.check_deadline(now);
        match self.state {
            State::Closed => RefusalStep::Done { timed_out: false },
            State::Expired => RefusalStep::Done { timed_out: true },
            _ => step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer whose bytes and close are scripted; `None` reads until `closed`.
    struct Peer {
        input: &'static [u8],
        closed: bool,
        writable: bool,
        output: heapless::Vec<u8, 8>,
    }

    impl Transport for Peer {
        type Error = embedded_io::ErrorKind;
        fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
            if self.input.is_empty() {
                return Ok(self.closed.then_some(0));
            }
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(Some(n))
        }
        fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
            if !self.writable {
                return Ok(None);
            }
            self.output.extend_from_slice(buf).unwrap();
            Ok(Some(buf.len()))
        }
    }

    fn peer(input: &'static [u8], closed: bool) -> Peer {
        Peer {
            input,
            closed,
            writable: true,
            output: heapless::Vec::new(),
        }
    }

    #[test]
    fn the_answer_goes_out_then_the_peer_is_read_until_it_closes() {
        let mut io = peer(&[0xff], false);
        let mut r = Refusal::new(100, 1_000);
        assert_eq!(r.poll(&mut io, 100), RefusalStep::Answered);
        assert_eq!(io.output, [SC_CONLIMIT]);
        assert!(io.input.is_empty(), "the init byte was read and dropped");
        assert_eq!(r.poll(&mut io, 500), RefusalStep::Waiting);
        assert_eq!(r.poll_at(), Some(1_100));
        io.closed = true;
        assert_eq!(r.poll(&mut io, 600), RefusalStep::Done { timed_out: false });
        assert_eq!(r.poll_at(), None);
        assert_eq!(io.output, [SC_CONLIMIT], "one byte, once");
    }

    #[test]
    fn a_peer_that_stays_is_cut_off_at_the_deadline() {
        let mut io = peer(&[], false);
        let mut r = Refusal::new(0, 1_000);
        assert_eq!(r.poll(&mut io, 0), RefusalStep::Answered);
        assert_eq!(r.poll(&mut io, 999), RefusalStep::Waiting);
        assert_eq!(
            r.poll(&mut io, 1_000),
            RefusalStep::Done { timed_out: true }
        );
        assert!(r.is_done());
    }

    #[test]
    fn an_answer_the_transport_does_not_take_waits_and_a_failed_one_ends() {
        let mut io = peer(&[0xff], false);
        io.writable = false;
        let mut r = Refusal::new(0, 1_000);
        assert_eq!(r.poll(&mut io, 10), RefusalStep::Waiting);
        assert_eq!(io.input, [0xff], "nothing is read before the answer is out");
        io.writable = true;
        assert_eq!(r.poll(&mut io, 20), RefusalStep::Answered);

        struct Broken;
        impl Transport for Broken {
            type Error = embedded_io::ErrorKind;
            fn read(&mut self, _: &mut [u8]) -> Result<Option<usize>, Self::Error> {
                Err(embedded_io::ErrorKind::ConnectionReset)
            }
            fn write(&mut self, _: &[u8]) -> Result<Option<usize>, Self::Error> {
                Err(embedded_io::ErrorKind::ConnectionReset)
            }
        }
        let mut r = Refusal::new(0, 1_000);
        assert_eq!(
            r.poll(&mut Broken, 0),
            RefusalStep::Done { timed_out: false }
        );
    }
}
