//! The core's [`Transport`] over a tokio stream, polled with the task's context: `Pending`
//! is "not ready now", and tokio has registered the waker by then.
//!
//! Small reads ask for a few bytes more than the protocol needs (the extra bytes wait in a
//! [`ReadAhead`]): tokio takes a read that returns less than it asked for as "the socket is
//! drained" and waits for the next readiness event, so the read that would only find nothing
//! (`EAGAIN`) is saved, one system call per header, status byte and small payload.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use tinyproto_core::transport::{ReadAhead, Transport, READ_AHEAD};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads of at most this many bytes go through a buffer on the stack and read ahead; larger
/// ones go straight into the message (no copy of large payloads).
const SMALL_READ: usize = 1024;

/// One poll's view of a stream.
pub(crate) struct PollIo<'a, 'b, S> {
    pub(crate) io: &'a mut S,
    pub(crate) cx: &'a mut Context<'b>,
    /// Set when bytes were written and not yet flushed: a stream that buffers (TLS, a
    /// `BufWriter`) may answer the core's flush with `Pending`, and the driver flushes again.
    pub(crate) unflushed: &'a mut bool,
    /// What the last reads took beyond what was asked for; it outlives the poll.
    pub(crate) ahead: &'a mut ReadAhead,
}

impl<S: AsyncRead + Unpin> PollIo<'_, '_, S> {
    fn poll_read(&mut self, buf: &mut ReadBuf<'_>) -> io::Result<Option<()>> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(Ok(())) => Ok(Some(())),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(None),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for PollIo<'_, '_, S> {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, io::Error> {
        if let Some(n) = self.ahead.take(buf) {
            return Ok(Some(n));
        }
        if buf.len() > SMALL_READ {
            let mut direct = ReadBuf::new(buf);
            return Ok(self.poll_read(&mut direct)?.map(|()| direct.filled().len()));
        }
        let mut room = [MaybeUninit::<u8>::uninit(); SMALL_READ + READ_AHEAD];
        let mut staged = ReadBuf::uninit(&mut room[..buf.len() + READ_AHEAD]);
        if self.poll_read(&mut staged)?.is_none() {
            return Ok(None);
        }
        let got = staged.filled();
        let n = got.len().min(buf.len());
        buf[..n].copy_from_slice(&got[..n]);
        self.ahead.keep(&got[n..]);
        Ok(Some(n))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::task::Waker;

    /// A stream handing out scripted chunks (at most what is asked, like a socket), then
    /// `Pending`; it records how much each read asked for.
    #[derive(Default)]
    struct Script {
        chunks: VecDeque<Vec<u8>>,
        asked: Vec<usize>,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.asked.push(buf.remaining());
            let Some(mut chunk) = self.chunks.pop_front() else {
                return Poll::Pending;
            };
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            if n < chunk.len() {
                chunk.drain(..n);
                self.chunks.push_front(chunk);
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Script {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_reads_ask_for_a_header_more_and_hand_out_the_extra_bytes_first() {
        let mut stream = Script::default();
        // The peer's status byte and its next header in one segment, then a payload.
        stream.chunks.push_back(vec![0xff, 0, 0, 0, 5]);
        stream.chunks.push_back(b"hello".to_vec());
        let mut cx = Context::from_waker(Waker::noop());
        let (mut unflushed, mut ahead) = (false, ReadAhead::default());
        let mut io = PollIo {
            io: &mut stream,
            cx: &mut cx,
            unflushed: &mut unflushed,
            ahead: &mut ahead,
        };
        let mut status = [0; 1];
        assert_eq!(io.read(&mut status).unwrap(), Some(1));
        let mut header = [0; 4];
        assert_eq!(io.read(&mut header).unwrap(), Some(4), "held, not read");
        assert_eq!((status, header), ([0xff], [0, 0, 0, 5]));
        let mut payload = [0; 5];
        assert_eq!(io.read(&mut payload).unwrap(), Some(5));
        assert_eq!(&payload, b"hello");
        assert_eq!(io.read(&mut header).unwrap(), None, "nothing more yet");
        io.io.chunks.push_back(vec![7; 3000]);
        let mut large = vec![0; 4096];
        assert_eq!(io.read(&mut large).unwrap(), Some(3000));
        assert_eq!(
            stream.asked,
            [1 + READ_AHEAD, 5 + READ_AHEAD, 4 + READ_AHEAD, 4096],
            "a large read goes straight into the message"
        );
    }
}
