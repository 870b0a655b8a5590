//! The core's [`Transport`] over a tokio stream, polled with the task's context: `Pending`
//! is "not ready now" (`Ok(None)`), and tokio has registered the waker by then.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tinyproto_core::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One poll's view of a stream.
pub(crate) struct PollIo<'a, 'b, S> {
    pub(crate) io: &'a mut S,
    pub(crate) cx: &'a mut Context<'b>,
    /// Set when bytes were written and not yet flushed: a stream that buffers (TLS, a
    /// `BufWriter`) may answer the core's flush with `Pending`, and the driver flushes again.
    pub(crate) unflushed: &'a mut bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for PollIo<'_, '_, S> {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, io::Error> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(Some(buf.filled().len())),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(None),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, io::Error> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(Ok(n)) => {
                *self.unflushed = true;
                Ok(Some(n))
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(None),
        }
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(Ok(())) => {
                *self.unflushed = false;
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(e),
            // Left set: the driver flushes again when the stream is ready.
            Poll::Pending => Ok(()),
        }
    }
}
