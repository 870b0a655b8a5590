//! The smoltcp socket as the core's non-blocking [`Transport`].

use crate::error::TcpError;
use smoltcp::socket::tcp::{self, RecvError, SendError, State};
use tinyproto_core::transport::Transport;

/// A smoltcp TCP socket seen as a byte pipe.
///
/// `Ok(0)` from smoltcp means "nothing now" and becomes `Ok(None)`; the peer's FIN becomes end
/// of stream (`Ok(Some(0))`); a connection that is not up yet is "not ready"; one that
/// vanished is [`TcpError::Reset`].
pub(crate) struct TcpIo<'s, 'a>(pub(crate) &'s mut tcp::Socket<'a>);

impl TcpIo<'_, '_> {
    fn not_ready_or_error(&self) -> Result<Option<usize>, TcpError> {
        match self.0.state() {
            State::SynSent | State::SynReceived | State::Listen => Ok(None),
            State::Closed | State::TimeWait => Err(TcpError::Reset),
            state => Err(TcpError::InvalidState { state }),
        }
    }
}

impl Transport for TcpIo<'_, '_> {
    type Error = TcpError;

    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TcpError> {
        if buf.is_empty() {
            return Ok(None);
        }
        match self.0.recv_slice(buf) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(RecvError::Finished) => Ok(Some(0)),
            Err(RecvError::InvalidState) => self.not_ready_or_error(),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, TcpError> {
        match self.0.send_slice(buf) {
            // A full send buffer: short sends are normal, zero means "later".
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(SendError::InvalidState) => self.not_ready_or_error(),
        }
    }

    /// The socket's send buffer is the stack's: the interface's next poll sends what it
    /// holds, and there is nothing to flush.
    fn buffers_writes(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> tcp::Socket<'static> {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        )
    }

    #[test]
    fn a_socket_that_is_not_up_yet_is_not_ready() {
        let mut s = socket();
        s.listen(7000).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(TcpIo(&mut s).read(&mut buf), Ok(None));
        assert_eq!(TcpIo(&mut s).write(b"x"), Ok(None));
    }

    #[test]
    fn a_closed_socket_is_a_reset_and_empty_reads_are_not_eof() {
        let mut s = socket();
        let mut buf = [0u8; 4];
        assert_eq!(TcpIo(&mut s).read(&mut buf), Err(TcpError::Reset));
        assert_eq!(TcpIo(&mut s).write(b"x"), Err(TcpError::Reset));
        assert_eq!(
            TcpIo(&mut s).read(&mut []),
            Ok(None),
            "never EOF by accident"
        );
    }
}
