//! `random.Random(seed).randbytes(n)` of CPython (3.9 and later), so that the message specs of
//! the transcripts (`{"random": [seed, length]}`) give the very bytes the recorder sent.
//!
//! CPython seeds its Mersenne Twister (MT19937) with `init_by_array` over the 32-bit words of
//! `abs(seed)`, and `randbytes(n)` is `getrandbits(8 * n).to_bytes(n, "little")`: 32-bit outputs
//! in little-endian order, the last one shifted right to the bits still wanted.

const N: usize = 624;
const M: usize = 397;

/// CPython's `random.Random` generator state (MT19937).
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl PyRandom {
    /// `random.Random(seed)`.
    pub fn new(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        let mut r = Self::init_genrand(19_650_218);
        let mt = &mut r.mt;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { mt, index: N }
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `randbytes(n)`.
    pub fn randbytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let want = (n - out.len()).min(4);
            let word = self.next_u32() >> (32 - 8 * want as u32);
            out.extend_from_slice(&word.to_le_bytes()[..want]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::PyRandom;

    #[test]
    fn matches_cpython() {
        // python3 -c "import random; print(random.Random(SEED).randbytes(N).hex())"
        assert_eq!(PyRandom::new(1).randbytes(7), hex("f5b1652258b791"));
        assert_eq!(PyRandom::new(70000).randbytes(9), hex("a3481a867fd932dbda"));
        assert_eq!(
            PyRandom::new((1 << 40) + 5).randbytes(6),
            hex("24111f815484")
        );
        assert!(PyRandom::new(3).randbytes(0).is_empty());
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::transcript::from_hex(s).unwrap()
    }
}
