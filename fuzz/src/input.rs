//! The fuzzer's bytes, read as a sequence of decisions.

/// Decisions taken from the fuzzer's bytes; once they run out, every decision is `None` or 0.
#[derive(Debug)]
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Decisions from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The next byte, if any is left.
    pub fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    /// The next byte, 0 once they ran out.
    pub fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    /// The next two bytes as a big-endian number.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// The next `n` bytes (fewer if they run out).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (now, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        now
    }

    /// Whether every byte was used.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
