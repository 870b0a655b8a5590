//! The byte pipe the non-blocking drivers move bytes through, and their I/O step on the
//! sans-IO kernel every driver shares.

use crate::buffer::Buffer;
use crate::error::Error;
use crate::kernel::{Io, Kernel, Outgoing, Step};
use crate::session::Session;

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

/// Does the one read, write or flush the kernel plans for `session` (payloads go to `buf`),
/// if the transport is ready for it.
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
    match done.map_err(Error::Transport)? {
        Some(n) => kernel.commit(session, buf, n).map(Some),
        None => Ok(None),
    }
}
