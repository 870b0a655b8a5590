//! A scripted peer: an in-memory `embedded-io` transport for tests, examples and replays.

use crate::buffer::Buffer;
use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};

/// Plays a peer from a recorded byte stream: reads come from `input` at most `chunk` bytes at a
/// time (then end of stream), writes are collected in an output [`Buffer`].
///
/// It makes any chunking of the input reproducible, which is how the conformance suite replays
/// transcripts at chunk sizes 1, 3, 997 and all at once.
///
/// ```
/// use tinyproto_core::script::ScriptedPeer;
/// use embedded_io::{Read, Write};
///
/// let mut peer = ScriptedPeer::new(b"abcde", 2, heapless::Vec::<u8, 8>::new());
/// let mut buf = [0u8; 8];
/// assert_eq!(peer.read(&mut buf).unwrap(), 2);
/// peer.write_all(b"xy").unwrap();
/// assert_eq!(peer.output(), b"xy");
/// assert_eq!(peer.remaining_input(), b"cde");
/// ```
#[derive(Debug)]
pub struct ScriptedPeer<'a, O> {
    input: &'a [u8],
    chunk: usize,
    output: O,
}

impl<'a, O: Buffer> ScriptedPeer<'a, O> {
    /// A peer that will send `input` in reads of at most `chunk` bytes (at least 1).
    pub fn new(input: &'a [u8], chunk: usize, output: O) -> Self {
        Self {
            input,
            chunk: chunk.max(1),
            output,
        }
    }

    /// Everything written to the peer so far.
    pub fn output(&self) -> &[u8] {
        self.output.as_slice()
    }

    /// Input not read yet.
    pub fn remaining_input(&self) -> &'a [u8] {
        self.input
    }
}

impl<O> ErrorType for ScriptedPeer<'_, O> {
    type Error = ErrorKind;
}

impl<O: Buffer> Read for ScriptedPeer<'_, O> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(self.chunk).min(self.input.len());
        let (now, later) = self.input.split_at(n);
        buf[..n].copy_from_slice(now);
        self.input = later;
        Ok(n)
    }
}

impl<O: Buffer> Write for ScriptedPeer<'_, O> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.output
            .extend_from_slice(buf)
            .map_err(|_| ErrorKind::OutOfMemory)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl<O: Buffer> ReadReady for ScriptedPeer<'_, O> {
    /// Always ready: the script has its input or its end of stream.
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(true)
    }
}

impl<O: Buffer> WriteReady for ScriptedPeer<'_, O> {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(true)
    }
}

#[cfg(feature = "async")]
impl<O: Buffer> embedded_io_async::Read for ScriptedPeer<'_, O> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        Read::read(self, buf)
    }
}

#[cfg(feature = "async")]
impl<O: Buffer> embedded_io_async::Write for ScriptedPeer<'_, O> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        Write::write(self, buf)
    }
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}
