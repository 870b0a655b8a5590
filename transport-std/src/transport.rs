//! The byte pipe the protocol core drives: a non-blocking socket as a
//! [`tinyproto_core::transport::Transport`], and the socket setup shared by every connection.

use std::io::{self, ErrorKind, IoSliceMut, Read, Write};
use tinyproto_core::transport::{Transport, READ_AHEAD};

/// A non-blocking stream as a [`Transport`]: `WouldBlock` is "not ready" and `Interrupted` is
/// retried. With reads disabled it only writes, which lets a connection answer the peer (a
/// status byte) without reading the next message while a hook is busy.
pub(crate) struct SocketIo<'a, S> {
    stream: &'a mut S,
    reads: bool,
    ahead: Option<&'a mut ReadAhead>,
}

/// What a connection read beyond what the protocol asked for, and whether the socket was
/// found empty since its last readiness event. A read that returns less than it asked for
/// (asking for a few bytes more than needed) shows the socket is empty: the read that would
/// only say `WouldBlock` is saved, which in lockstep traffic is one system call per message in
/// each direction.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    held: tinyproto_core::transport::ReadAhead,
    drained: bool,
    /// The peer closed or the socket failed: a short read no longer shows the socket empty
    /// (the end or the error is still to be read, and no further event will announce it).
    ended: bool,
}

impl ReadAhead {
    /// New bytes may have arrived (a readiness event); `ended`: the event also reports the
    /// peer's close or an error.
    pub(crate) fn readable(&mut self, ended: bool) {
        self.drained = false;
        self.ended |= ended;
    }

    /// Nothing to read until the next readiness event: no byte held, and the socket found
    /// empty since the last one.
    pub(crate) fn is_dry(&self) -> bool {
        self.drained && self.held.is_empty()
    }
}

impl<'a, S> SocketIo<'a, S> {
    pub(crate) fn new(stream: &'a mut S, reads: bool) -> Self {
        Self {
            stream,
            reads,
            ahead: None,
        }
    }

    /// Reads ahead into `ahead` (a reactor's connection, woken by readiness events).
    pub(crate) fn reading_ahead(stream: &'a mut S, reads: bool, ahead: &'a mut ReadAhead) -> Self {
        Self {
            stream,
            reads,
            ahead: Some(ahead),
        }
    }
}

impl<S: Read + Write> Transport for SocketIo<'_, S> {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if !self.reads {
            return Ok(None);
        }
        let Some(ahead) = self.ahead.as_deref_mut() else {
            return retry(|| self.stream.read(buf));
        };
        if let Some(n) = ahead.held.take(buf) {
            return Ok(Some(n));
        }
        if ahead.drained {
            return Ok(None);
        }
        let mut extra = [0u8; READ_AHEAD];
        let read = retry(|| {
            let mut bufs = [IoSliceMut::new(buf), IoSliceMut::new(&mut extra)];
            self.stream.read_vectored(&mut bufs)
        })?;
        match read {
            None => {
                ahead.drained = true;
                Ok(None)
            }
            Some(n) => {
                ahead.drained = !ahead.ended && n < buf.len() + READ_AHEAD;
                if n <= buf.len() {
                    return Ok(Some(n));
                }
                ahead.held.keep(&extra[..n - buf.len()]);
                Ok(Some(buf.len()))
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        retry(|| self.stream.write(buf))
    }

    /// The stream's writes go to the socket as they are made (its `flush` is never needed).
    fn buffers_writes(&self) -> bool {
        false
    }
}

fn retry(mut op: impl FnMut() -> io::Result<usize>) -> io::Result<Option<usize>> {
    loop {
        match op() {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Reads from a script of results, writes into a Vec.
    struct Scripted(VecDeque<io::Result<Vec<u8>>>, Vec<u8>);
    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.read_vectored(&mut [IoSliceMut::new(buf)])
        }
        /// Like a socket: one chunk of the script, spread over the buffers.
        fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
            let bytes = self.0.pop_front().unwrap_or(Ok(Vec::new()))?;
            let mut rest = &bytes[..];
            for buf in bufs {
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            Ok(bytes.len() - rest.len())
        }
    }
    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn would_block_is_not_ready_and_interrupted_is_retried() {
        let script = [
            Err(ErrorKind::Interrupted.into()),
            Ok(b"ab".to_vec()),
            Err(ErrorKind::WouldBlock.into()),
            Err(ErrorKind::ConnectionReset.into()),
        ];
        let mut s = Scripted(script.into_iter().collect(), Vec::new());
        let mut io = SocketIo::new(&mut s, true);
        let mut buf = [0; 4];
        assert_eq!(io.read(&mut buf).unwrap(), Some(2));
        assert_eq!(io.read(&mut buf).unwrap(), None);
        let err = io.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        assert_eq!(io.read(&mut buf).unwrap(), Some(0), "end of stream");
    }

    #[test]
    fn a_short_read_saves_the_read_that_would_block_and_extra_bytes_wait_their_turn() {
        let script = [Ok(b"abcdef".to_vec()), Ok(b"gh".to_vec())];
        let mut s = Scripted(script.into_iter().collect(), Vec::new());
        let mut ahead = ReadAhead::default();
        let mut buf = [0; 4];
        let mut io = SocketIo::reading_ahead(&mut s, true, &mut ahead);
        assert_eq!(io.read(&mut buf).unwrap(), Some(4));
        assert_eq!(&buf, b"abcd");
        assert_eq!(io.read(&mut buf).unwrap(), Some(2), "read ahead");
        assert_eq!(&buf[..2], b"ef");
        assert_eq!(
            io.read(&mut buf).unwrap(),
            None,
            "6 of 8 asked for: drained"
        );
        ahead.readable(true);
        let mut io = SocketIo::reading_ahead(&mut s, true, &mut ahead);
        assert_eq!(io.read(&mut buf).unwrap(), Some(2));
        assert_eq!(&buf[..2], b"gh");
        let mut io = SocketIo::reading_ahead(&mut s, true, &mut ahead);
        assert_eq!(
            io.read(&mut buf).unwrap(),
            Some(0),
            "once closed, short reads go on"
        );
    }

    #[test]
    fn reads_can_be_held_back_while_writes_go_on() {
        let mut s = Scripted([Ok(b"x".to_vec())].into_iter().collect(), Vec::new());
        let mut io = SocketIo::new(&mut s, false);
        assert_eq!(io.read(&mut [0; 1]).unwrap(), None);
        assert_eq!(io.write(b"\xff").unwrap(), Some(1));
        assert_eq!(s.1, b"\xff");
        assert_eq!(s.0.len(), 1, "nothing was read");
    }
}
