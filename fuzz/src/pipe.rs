//! One end of an in-memory connection, passing bytes in the chunks the fuzzer picks.

use crate::input::Input;
use std::collections::VecDeque;
use tinyproto_core::transport::Transport;

/// How many bytes may pass in one direction during one poll, and how many per call.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    chunk: usize,
    left: usize,
}

impl Budget {
    /// No limit.
    pub const UNLIMITED: Budget = Budget {
        chunk: usize::MAX,
        left: usize::MAX,
    };

    /// A budget from two decisions (chunk, total); unlimited once the decisions ran out, so
    /// every run ends. Small values are common, large ones possible, 0 blocks.
    pub fn pick(input: &mut Input<'_>) -> Budget {
        match (input.next(), input.next()) {
            (Some(chunk), Some(left)) => Budget {
                chunk: size(chunk).max(1),
                left: size(left),
            },
            _ => Budget::UNLIMITED,
        }
    }

    fn grant(&mut self, want: usize) -> usize {
        let n = want.min(self.chunk).min(self.left);
        self.left -= n;
        n
    }
}

/// 0..=127 as is, then steps of 64 bytes up to 8 KiB, and 255 for no limit.
fn size(b: u8) -> usize {
    match b {
        0..=127 => usize::from(b),
        255 => usize::MAX,
        _ => usize::from(b - 127) << 6,
    }
}

/// One end for one poll: reads from `inbox` and writes to `outbox` within the budgets. An
/// empty inbox is "nothing to read now", or end of stream when `eof`.
#[derive(Debug)]
pub struct End<'a> {
    /// Bytes from the peer.
    pub inbox: &'a mut VecDeque<u8>,
    /// Bytes to the peer.
    pub outbox: &'a mut VecDeque<u8>,
    /// The peer has closed: an empty inbox is end of stream.
    pub eof: bool,
    /// What may be read during this poll.
    pub read: Budget,
    /// What may be written during this poll.
    pub write: Budget,
}

impl Transport for End<'_> {
    type Error = core::convert::Infallible;

    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        if self.inbox.is_empty() {
            return Ok(self.eof.then_some(0));
        }
        let n = self.read.grant(buf.len().min(self.inbox.len()));
        if n == 0 {
            return Ok(None);
        }
        for (slot, byte) in buf.iter_mut().zip(self.inbox.drain(..n)) {
            *slot = byte;
        }
        Ok(Some(n))
    }

    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        let n = self.write.grant(buf.len());
        if n == 0 {
            return Ok(None);
        }
        self.outbox.extend(&buf[..n]);
        Ok(Some(n))
    }
}
