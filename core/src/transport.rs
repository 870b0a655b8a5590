//! The byte pipe the non-blocking drivers move bytes through, and their I/O step on the
//! sans-IO kernel every driver shares.

use crate::buffer::Buffer;
use crate::error::Error;
use crate::kernel::{Io, Kernel, Outgoing, Step};
use crate::session::Session;
use crate::wire::HEADER_LEN;

/// A byte pipe that may not be ready: what a transport gives the protocol.
///
/// Implemented by the drivers of this crate over `embedded-io` (blocking, or polled through
/// `ReadReady`/`WriteReady`), and by the std and smoltcp transports over their sockets.
pub trait Transport {
    /// The transport's error; [`embedded_io::Error::kind`] classifies it.
    type Error: embedded_io::Error;

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

    /// Whether [`Transport::flush`] has anything to do. A transport that hands every write
    /// to the peer at once (a socket, without a buffer of its own) answers `false`, and the
    /// protocol then takes no flush step: one plan and one commit fewer per message sent.
    /// The default is `true`.
    fn buffers_writes(&self) -> bool {
        true
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
    fn buffers_writes(&self) -> bool {
        (**self).buffers_writes()
    }
}

/// Most bytes a [`ReadAhead`] holds: a header's worth, which is all a peer may send before it
/// must wait for our answer.
pub const READ_AHEAD: usize = HEADER_LEN;

/// Bytes a transport read beyond what the protocol asked for, handed out before it reads again.
///
/// A socket read that asks for a few bytes more than the protocol needs and gets fewer shows
/// that the socket is empty, which saves the next read (the one that would only find nothing)
/// in a readiness-driven driver: one system call per header, status byte and small payload.
/// The bytes it got beyond the request wait here.
///
/// ```
/// use tinyproto_core::transport::ReadAhead;
/// let mut ahead = ReadAhead::default();
/// ahead.keep(b"\xff\0\0");
/// let mut status = [0u8; 1];
/// assert_eq!(ahead.take(&mut status), Some(1));
/// let mut header = [0u8; 4];
/// assert_eq!(ahead.take(&mut header), Some(2), "what is held, no more");
/// assert_eq!(ahead.take(&mut header), None, "the transport reads next");
/// assert!(ahead.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ReadAhead {
    bytes: [u8; READ_AHEAD],
    pos: u8,
    len: u8,
}

impl ReadAhead {
    /// Moves held bytes into `buf`: how many, or `None` when none is held.
    #[inline]
    pub fn take(&mut self, buf: &mut [u8]) -> Option<usize> {
        let (pos, len) = (usize::from(self.pos), usize::from(self.len));
        if pos == len {
            return None;
        }
        let n = buf.len().min(len - pos);
        buf[..n].copy_from_slice(&self.bytes[pos..pos + n]);
        self.pos += n as u8;
        Some(n)
    }

    /// Whether no byte is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos == self.len
    }

    /// Holds `extra` (what a read got beyond the request) in place of what was held.
    ///
    /// # Panics
    /// If `extra` is longer than [`READ_AHEAD`]: read at most that many bytes ahead.
    pub fn keep(&mut self, extra: &[u8]) {
        self.bytes[..extra.len()].copy_from_slice(extra);
        (self.pos, self.len) = (0, extra.len() as u8);
    }
}

/// Does the one read, write or flush the kernel plans for `session` (payloads go to `buf`),
/// if the transport is ready for it; a transport that does not buffer writes owes no flush.
///
/// Inlined always on hosted targets (see [`Kernel::plan`]).
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline)]
pub(crate) fn step<T: Transport + ?Sized, B: Buffer + ?Sized>(
    io: &mut T,
    kernel: &mut Kernel,
    session: &mut Session,
    buf: &mut B,
    outgoing: Outgoing<'_>,
) -> Result<Option<Step>, Error<T::Error>> {
    let done = match kernel
        .plan(session, buf, outgoing)
        .map_err(Error::Capacity)?
    {
        Io::Write(bytes) => io.write(bytes),
        Io::Read(region) => io.read(region),
        Io::Flush => io.flush().map(|()| Some(0)),
        Io::Wait => return Ok(None),
    };
    let Some(n) = done.map_err(Error::Transport)? else {
        return Ok(None);
    };
    let step = kernel.commit(session, buf, n);
    if !io.buffers_writes() {
        kernel.nothing_to_flush();
    }
    step.map(Some)
}
