//! Deterministic pseudo-random test data.

/// Deterministic pseudo-random numbers (xorshift64*), for reproducible test messages.
///
/// ```
/// use tinyproto_testkit::Rng;
/// assert_eq!(Rng(7).bytes(5), Rng(7).bytes(5));
/// assert!(Rng(0).bytes(64).iter().any(|&b| b != 0), "seed 0 is usable too");
/// ```
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        if self.0 == 0 {
            // xorshift stays at zero for ever from a zero state.
            self.0 = 0x9e37_79b9_7f4a_7c15;
        }
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
