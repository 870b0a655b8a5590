//! The byte pipe every driver moves bytes through, and the one I/O step they all share.

use crate::buffer::Buffer;
use crate::error::Error;
use crate::session::{Event, NextRead, Session};
use crate::wire::HEADER_LEN;

/// A byte pipe that may not be ready: what a transport gives the protocol.
///
/// Implemented by the drivers of this crate over `embedded-io` (blocking, or polled through
/// `ReadReady`/`WriteReady`), and by the std and smoltcp transports over their sockets.
pub trait Transport {
    /// The transport's error.
    type Error;

    /// Reads up to `buf.len()` bytes: `Ok(Some(0))` is end of stream, `Ok(None)` means
    /// nothing can be read now.
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error>;

    /// Writes up to `buf.len()` bytes: `Ok(None)` means nothing can be written now.
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error>;

    /// Pushes buffered output to the peer; called when the protocol is about to wait for an
    /// answer. The default does nothing.
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    type Error = T::Error;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        (**self).read(buf)
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        (**self).write(buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
}

/// Smallest step by which a receive buffer grows. A buffer grows by at most what already
/// arrived (and at least this), so memory follows the bytes that really came.
pub(crate) const GROW_STEP: usize = 16 * 1024;

/// What one [`step`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The transport was not ready for what the session needs.
    Blocked,
    /// Bytes moved.
    Moved(usize),
    /// Bytes moved and the session reported an event.
    Event(Event),
}

/// Where the payload being sent is.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// In the caller's slice.
    Slice(&'a [u8]),
    /// In the buffer passed to [`step`] (after plugins transformed it there).
    Buffer,
}

/// Does one read or one write for `session`: control output first, then the outgoing payload,
/// then whatever the session asks to read (payloads go to `buf`, cleared when a new message
/// is announced).
///
/// One buffer can serve both directions because a session never reads a payload while it
/// sends one.
pub(crate) fn step<T: Transport + ?Sized, B: Buffer + ?Sized>(
    io: &mut T,
    session: &mut Session,
    buf: &mut B,
    outgoing: Outgoing<'_>,
) -> Result<Step, Error<T::Error>> {
    let pending = session.pending_output();
    if !pending.is_empty() {
        let Some(n) = write(io, pending)? else {
            return Ok(Step::Blocked);
        };
        session.output_written(n);
        if session.pending_output().is_empty() {
            io.flush().map_err(Error::Transport)?;
        }
        return Ok(Step::Moved(n));
    }
    let to_send = session.payload_to_send();
    if to_send > 0 {
        let tx = match outgoing {
            Outgoing::Slice(tx) => tx,
            Outgoing::Buffer => buf.as_slice(),
        };
        let offset = tx.len().saturating_sub(to_send);
        let Some(n) = write(io, &tx[offset..])? else {
            return Ok(Step::Blocked);
        };
        return Ok(match session.payload_written(n) {
            Some(event) => {
                io.flush().map_err(Error::Transport)?;
                Step::Event(event)
            }
            None => Step::Moved(n),
        });
    }
    match session.next_read() {
        NextRead::Nothing => Ok(Step::Blocked),
        NextRead::Control(want) => {
            let mut bytes = [0u8; HEADER_LEN];
            let Some(n) = read(io, session, &mut bytes[..want])? else {
                return Ok(Step::Blocked);
            };
            Ok(match session.handle_control(&bytes[..n])? {
                Some(event @ (Event::Incoming { .. } | Event::Received)) => {
                    // A new message: a non-empty one fills `buf` next, an empty one is `buf`.
                    buf.clear();
                    Step::Event(event)
                }
                Some(event) => Step::Event(event),
                None => Step::Moved(n),
            })
        }
        NextRead::Payload(remaining) => {
            // The buffer holds what arrived plus a window for the next reads, kept across
            // reads (not prepared again for each one). A full window grows to all the memory
            // the buffer has ready ([`Buffer::reusable_len`]), or else by at most what already
            // arrived (and at least GROW_STEP): new memory follows the bytes that really
            // came, and small reads cost no more than large ones.
            let filled = session.payload_received();
            if buf.as_slice().len() <= filled {
                let wanted = filled + remaining;
                let ready = buf.reusable_len().min(wanted);
                let grown = if ready > filled {
                    ready
                } else {
                    filled + remaining.min(filled.max(GROW_STEP))
                };
                buf.resize(grown).map_err(Error::Capacity)?;
            }
            let end = buf.as_slice().len().min(filled + remaining);
            let Some(n) = read(io, session, &mut buf.as_mut_slice()[filled..end])? else {
                return Ok(Step::Blocked);
            };
            Ok(match session.handle_payload(n) {
                Some(event) => Step::Event(event),
                None => Step::Moved(n),
            })
        }
    }
}

fn write<T: Transport + ?Sized>(
    io: &mut T,
    bytes: &[u8],
) -> Result<Option<usize>, Error<T::Error>> {
    // Callers never write an empty slice, so zero bytes written is a stuck transport.
    match io.write(bytes).map_err(Error::Transport)? {
        Some(0) => Err(Error::WriteZero),
        other => Ok(other),
    }
}

/// Reads into `buf`; end of stream becomes the session's verdict (clean close or truncation).
fn read<T: Transport + ?Sized>(
    io: &mut T,
    session: &mut Session,
    buf: &mut [u8],
) -> Result<Option<usize>, Error<T::Error>> {
    match io.read(buf).map_err(Error::Transport)? {
        Some(0) => Err(match session.handle_eof() {
            Ok(()) => Error::Closed,
            Err(e) => Error::Protocol(e),
        }),
        other => Ok(other),
    }
}
