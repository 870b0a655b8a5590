//! The byte pipe the protocol core drives: a non-blocking socket as a
//! [`tinyproto_core::transport::Transport`], and the socket setup shared by every connection.

use std::io::{self, ErrorKind, Read, Write};
use tinyproto_core::transport::Transport;

/// A non-blocking stream as a [`Transport`]: `WouldBlock` is "not ready" and `Interrupted` is
/// retried. With reads disabled it only writes, which lets a connection answer the peer (a
/// status byte) without reading the next message while a hook is busy.
pub(crate) struct SocketIo<'a, S> {
    stream: &'a mut S,
    reads: bool,
}

impl<'a, S> SocketIo<'a, S> {
    pub(crate) fn new(stream: &'a mut S, reads: bool) -> Self {
        Self { stream, reads }
    }
}

impl<S: Read + Write> Transport for SocketIo<'_, S> {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if !self.reads {
            return Ok(None);
        }
        retry(|| self.stream.read(buf))
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        retry(|| self.stream.write(buf))
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
            let bytes = self.0.pop_front().unwrap_or(Ok(Vec::new()))?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
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
    fn reads_can_be_held_back_while_writes_go_on() {
        let mut s = Scripted([Ok(b"x".to_vec())].into_iter().collect(), Vec::new());
        let mut io = SocketIo::new(&mut s, false);
        assert_eq!(io.read(&mut [0; 1]).unwrap(), None);
        assert_eq!(io.write(b"\xff").unwrap(), Some(1));
        assert_eq!(s.1, b"\xff");
        assert_eq!(s.0.len(), 1, "nothing was read");
    }
}
