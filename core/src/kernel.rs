//! The sans-IO kernel every driver shares: which I/O the session needs next ([`Kernel::plan`]),
//! and what that I/O did ([`Kernel::commit`]).
//!
//! A driver asks for the plan, does the one read, write or flush it names with its own kind of
//! I/O (blocking, polled, async), and commits the byte count. Nothing changes until the commit:
//! a driver whose I/O is not ready (or an async one whose future is dropped) simply plans
//! again later, and the same plan comes back.
//!
//! The plan, in order of priority: a flush owed after our bytes (before we wait for the peer),
//! control output (init byte, status answer, header), the outgoing payload, then whatever the
//! session asks to read (payloads go to the buffer, cleared when a new message is announced).

use crate::buffer::{receive_window, Buffer, CapacityError};
use crate::error::Error;
use crate::session::{NextRead, Session, SessionEvent};
use crate::wire::HEADER_LEN;

/// The I/O a session needs next.
#[derive(Debug)]
pub(crate) enum Io<'a> {
    /// Write some of these bytes (never empty); commit the count written.
    Write(&'a [u8]),
    /// Read at most into this region (never empty); commit the count read, 0 at end of stream.
    Read(&'a mut [u8]),
    /// Push buffered output to the peer; commit 0.
    Flush,
    /// Nothing until the caller starts a send (or ever, once the session is closed).
    Wait,
}

/// What a commit did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Bytes moved (or output was flushed).
    Moved(usize),
    /// Bytes moved and the session reported an event.
    Event(SessionEvent),
}

/// Where the payload being sent is.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// In the caller's slice.
    Slice(&'a [u8]),
    /// In the buffer passed to [`Kernel::plan`] (after plugins transformed it there).
    Buffer,
}

/// Which I/O the last plan named.
#[derive(Clone, Copy, Debug, Default)]
enum Planned {
    #[default]
    Wait,
    Flush,
    Control,
    Payload,
    ReadControl,
    ReadPayload,
}

/// The kernel's state between a plan and its commit: 6 bytes.
///
/// One buffer serves both directions because a session never reads a payload while it sends
/// one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Kernel {
    planned: Planned,
    flush_owed: bool,
    control: [u8; HEADER_LEN],
}

impl Kernel {
    /// Whether nothing is owed to the peer (no control output, no flush): an event can be
    /// handed to the caller without keeping the peer waiting.
    pub(crate) fn is_settled(&self, session: &Session) -> bool {
        !self.flush_owed && session.pending_output().is_empty()
    }

    /// The transport keeps no bytes back: no flush is owed after what it wrote.
    pub(crate) fn nothing_to_flush(&mut self) {
        self.flush_owed = false;
    }

    /// The I/O `session` needs next. Asking again without a commit gives the same answer.
    ///
    /// Inlined always on hosted targets, as are [`Kernel::commit`] and the drivers' step (one
    /// plan and one commit per read or write, where the calls cost as much as the work); on
    /// bare metal (`target_os = "none"`, built for size) the compiler decides, which keeps the
    /// flash small.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn plan<'a, B: Buffer + ?Sized>(
        &'a mut self,
        session: &'a Session,
        buf: &'a mut B,
        outgoing: Outgoing<'a>,
    ) -> Result<Io<'a>, CapacityError> {
        if self.flush_owed {
            self.planned = Planned::Flush;
            return Ok(Io::Flush);
        }
        let pending = session.pending_output();
        if !pending.is_empty() {
            self.planned = Planned::Control;
            return Ok(Io::Write(pending));
        }
        let to_send = session.payload_to_send();
        if to_send > 0 {
            let tx = match outgoing {
                Outgoing::Slice(tx) => tx,
                Outgoing::Buffer => {
                    let buf: &'a B = buf;
                    buf.as_slice()
                }
            };
            let offset = tx.len().saturating_sub(to_send);
            self.planned = Planned::Payload;
            return Ok(Io::Write(&tx[offset..]));
        }
        match session.next_read() {
            NextRead::Nothing => {
                self.planned = Planned::Wait;
                Ok(Io::Wait)
            }
            NextRead::Control(want) => {
                self.planned = Planned::ReadControl;
                Ok(Io::Read(&mut self.control[..want]))
            }
            NextRead::Payload(remaining) => {
                // The buffer holds what arrived plus a window for the next reads, kept across
                // reads and prepared again only when they filled it.
                let filled = session.payload_received();
                if buf.as_slice().len() <= filled {
                    buf.resize(receive_window(filled, remaining, buf.reusable_len()))?;
                }
                let end = buf.as_slice().len().min(filled + remaining);
                self.planned = Planned::ReadPayload;
                Ok(Io::Read(&mut buf.as_mut_slice()[filled..end]))
            }
        }
    }

    /// Reports that the I/O of the last plan moved `n` bytes (0 for a flush; 0 for a read is
    /// end of stream, which becomes the session's verdict: a clean close or a truncation).
    ///
    /// Errors other than [`Error::WriteZero`] close the session.
    ///
    /// Inlined always on hosted targets (see [`Kernel::plan`]).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn commit<B: Buffer + ?Sized, E>(
        &mut self,
        session: &mut Session,
        buf: &mut B,
        n: usize,
    ) -> Result<Step, Error<E>> {
        Ok(match core::mem::take(&mut self.planned) {
            // Plans never name an empty write, so zero bytes written is a stuck transport.
            Planned::Control | Planned::Payload if n == 0 => return Err(Error::WriteZero),
            Planned::ReadControl | Planned::ReadPayload if n == 0 => {
                return Err(match session.handle_eof() {
                    Ok(()) => Error::Closed,
                    Err(e) => Error::Protocol(e),
                })
            }
            Planned::Wait => Step::Moved(0),
            Planned::Flush => {
                self.flush_owed = false;
                Step::Moved(0)
            }
            Planned::Control => {
                session.output_written(n);
                self.flush_owed = session.pending_output().is_empty();
                Step::Moved(n)
            }
            Planned::Payload => match session.payload_written(n) {
                Some(event) => {
                    self.flush_owed = true;
                    Step::Event(event)
                }
                None => Step::Moved(n),
            },
            Planned::ReadControl => {
                match session.handle_control(&self.control[..n.min(HEADER_LEN)])? {
                    Some(event @ (SessionEvent::Incoming { .. } | SessionEvent::Received)) => {
                        // A new message: a non-empty one fills `buf` next, an empty one is `buf`.
                        buf.clear();
                        Step::Event(event)
                    }
                    Some(event) => Step::Event(event),
                    None => Step::Moved(n),
                }
            }
            Planned::ReadPayload => match session.handle_payload(n) {
                Some(event) => Step::Event(event),
                None => Step::Moved(n),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// What a plan asks for, comparable: the bytes to write, the room to read into, a flush or
    /// a wait.
    fn describe(io: &Io<'_>) -> (&'static str, Vec<u8>) {
        match io {
            Io::Write(bytes) => ("write", bytes.to_vec()),
            Io::Read(region) => ("read", std::vec![0; region.len()]),
            Io::Flush => ("flush", Vec::new()),
            Io::Wait => ("wait", Vec::new()),
        }
    }

    /// The premise of every driver (and of the async driver's cancel safety): I/O that did not
    /// happen changes nothing, so the same plan comes back.
    #[test]
    fn a_plan_asked_again_without_a_commit_is_the_same_plan() {
        // The peer: its init byte, a 3-byte message, then "go ahead" for our 2-byte message.
        let mut input = &[0xff, 0, 0, 0, 3, b'a', b'b', b'c', 0xff][..];
        let (mut kernel, mut session) = (Kernel::default(), Session::new(16));
        let mut buf = heapless::Vec::<u8, 16>::new();
        let (mut wire, mut events) = (Vec::new(), Vec::new());
        let outgoing = Outgoing::Slice(b"hi");
        for _ in 0..64 {
            if events.last() == Some(&SessionEvent::Received) && session.is_idle() {
                session.start_send(2).unwrap();
            }
            let first = describe(&kernel.plan(&session, &mut buf, outgoing).unwrap());
            let io = kernel.plan(&session, &mut buf, outgoing).unwrap();
            assert_eq!(describe(&io), first, "planned twice before a commit");
            // One byte at a time, the smallest step a transport may take.
            let n = match io {
                Io::Write(bytes) => {
                    wire.push(bytes[0]);
                    1
                }
                Io::Read(region) => match input.split_first() {
                    Some((&byte, rest)) => {
                        (region[0], input) = (byte, rest);
                        1
                    }
                    None => break,
                },
                Io::Flush => 0,
                Io::Wait => break,
            };
            if let Step::Event(event) = kernel.commit::<_, ()>(&mut session, &mut buf, n).unwrap() {
                events.push(event);
            }
        }
        assert_eq!(wire, [0xff, 0xff, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(buf.as_slice(), b"abc");
        assert!(
            events.ends_with(&[
                SessionEvent::Received,
                SessionEvent::Accepted { len: 2 },
                SessionEvent::Sent
            ]),
            "{events:?}"
        );
    }
}
