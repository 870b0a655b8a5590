//! Message buffers: where received payloads are stored and where plugins transform messages.
//!
//! Without an allocator use a fixed buffer: [`heapless::Vec<u8, N>`] or a [`SliceBuffer`] over
//! a caller-owned `&mut [u8]`. With the `alloc` feature, `VecBuffer` grows with the bytes that
//! actually arrive, up to a configured maximum, so a hostile length header never reserves
//! memory by itself.

use core::fmt;

/// A message does not fit in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapacityError {
    /// Length asked for.
    pub requested: usize,
    /// The buffer's maximum.
    pub limit: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes do not fit in a buffer of at most {} bytes",
            self.requested, self.limit
        )
    }
}

impl core::error::Error for CapacityError {}

/// A resizable byte buffer with a hard maximum length.
///
/// The trait is object safe: plugins receive `&mut dyn Buffer`.
pub trait Buffer {
    /// The largest length this buffer can hold: the largest message it accepts.
    fn limit(&self) -> usize;
    /// The current contents.
    fn as_slice(&self) -> &[u8];
    /// The current contents, mutable.
    fn as_mut_slice(&mut self) -> &mut [u8];
    /// Sets the length to `len`. Bytes exposed by growing are unspecified (zero or stale), and
    /// the caller overwrites them.
    fn resize(&mut self, len: usize) -> Result<(), CapacityError>;

    /// The length this buffer can be resized to without writing memory: bytes left from an
    /// earlier use. A receive reads straight into all of them; past them, memory is only
    /// prepared as the bytes arrive. The default is the current length.
    ///
    /// ```
    /// use tinyproto_core::buffer::{Buffer, SliceBuffer};
    /// let mut storage = [0u8; 16];
    /// let buf = SliceBuffer::new(&mut storage);
    /// assert_eq!(buf.reusable_len(), 16, "caller-owned memory is ready as it is");
    /// ```
    fn reusable_len(&self) -> usize {
        self.as_slice().len()
    }

    /// Empties the buffer.
    fn clear(&mut self) {
        // Shrinking to zero never fails.
        let _ = self.resize(0);
    }

    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        let start = self.as_slice().len();
        self.resize(start + bytes.len())?;
        self.as_mut_slice()[start..].copy_from_slice(bytes);
        Ok(())
    }

    /// Replaces the contents with `bytes`.
    fn set(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        self.clear();
        self.extend_from_slice(bytes)
    }
}

fn capacity_error(requested: usize, limit: usize) -> CapacityError {
    CapacityError { requested, limit }
}

impl<const N: usize> Buffer for heapless::Vec<u8, N> {
    fn limit(&self) -> usize {
        N
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        heapless::Vec::resize(self, len, 0).map_err(|_| capacity_error(len, N))
    }
}

/// A [`Buffer`] over caller-owned memory, for firmware that places its buffers itself.
///
/// ```
/// use tinyproto_core::buffer::{Buffer, SliceBuffer};
/// let mut storage = [0u8; 16];
/// let mut buf = SliceBuffer::new(&mut storage);
/// buf.extend_from_slice(b"hi").unwrap();
/// assert_eq!(buf.as_slice(), b"hi");
/// assert!(buf.resize(17).is_err());
/// ```
#[derive(Debug)]
pub struct SliceBuffer<'a> {
    storage: &'a mut [u8],
    len: usize,
}

impl<'a> SliceBuffer<'a> {
    /// An empty buffer over `storage`; its limit is `storage.len()`.
    pub fn new(storage: &'a mut [u8]) -> Self {
        Self { storage, len: 0 }
    }
}

impl Buffer for SliceBuffer<'_> {
    fn limit(&self) -> usize {
        self.storage.len()
    }
    fn as_slice(&self) -> &[u8] {
        &self.storage[..self.len]
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[..self.len]
    }
    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        if len > self.storage.len() {
            return Err(capacity_error(len, self.storage.len()));
        }
        self.len = len;
        Ok(())
    }
    fn reusable_len(&self) -> usize {
        self.storage.len()
    }
}

impl<B: Buffer + ?Sized> Buffer for &mut B {
    fn limit(&self) -> usize {
        (**self).limit()
    }
    fn as_slice(&self) -> &[u8] {
        (**self).as_slice()
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        (**self).as_mut_slice()
    }
    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        (**self).resize(len)
    }
    fn reusable_len(&self) -> usize {
        (**self).reusable_len()
    }
}

/// Smallest window a receive buffer is prepared by (see [`receive_window`]).
pub(crate) const GROW_STEP: usize = 64 * 1024;

/// The sizing policy of a receive buffer: the length to prepare (zero-fill) a buffer to when
/// the reads of a payload have filled it, given the bytes of the payload `filled` so far, the
/// bytes still `remaining` and the buffer's [`Buffer::reusable_len`].
///
/// Memory the buffer already has ready is used as it is, up to the end of the payload. Past
/// it, the window for the next reads is a quarter of what already arrived (at least
/// [`GROW_STEP`]): the memory prepared never exceeds 1.25 × the bytes received plus
/// `GROW_STEP`, whatever the length announced, and large messages are still read in large
/// chunks.
pub(crate) fn receive_window(filled: usize, remaining: usize, reusable: usize) -> usize {
    let end = filled.saturating_add(remaining);
    if reusable > filled {
        return reusable.min(end);
    }
    filled + remaining.min((filled / 4).max(GROW_STEP))
}

#[cfg(feature = "alloc")]
pub use self::vec::VecBuffer;

#[cfg(feature = "alloc")]
mod vec {
    use super::{capacity_error, Buffer, CapacityError};
    use alloc::vec::Vec;

    /// A heap buffer with a configured maximum (feature `alloc`).
    ///
    /// Only the length is prepared (zero-filled), and the drivers prepare a receive buffer
    /// by at most a quarter of what already arrived (plus one 64 KiB step), so a header that
    /// announces 4 GB costs nothing until 4 GB actually arrive. The capacity doubles as the
    /// length outgrows it (up to the limit), so a growing message is moved a few times only;
    /// on a host with virtual memory, capacity never written is not resident.
    ///
    /// Memory once prepared stays prepared: emptying the buffer (or building it with
    /// [`VecBuffer::from_vec`] and [`Buffer::clear`]) keeps it, and the next message is read
    /// into it without zero-filling it again ([`Buffer::reusable_len`]).
    ///
    /// ```
    /// use tinyproto_core::buffer::{Buffer, VecBuffer};
    /// let mut buf = VecBuffer::new(1 << 20);
    /// buf.extend_from_slice(b"payload").unwrap();
    /// assert_eq!(buf.as_slice(), b"payload");
    /// assert!(buf.resize((1 << 20) + 1).is_err());
    /// let bytes: Vec<u8> = buf.into_vec();
    /// assert_eq!(bytes, b"payload");
    /// ```
    #[derive(Clone, Debug, Default)]
    pub struct VecBuffer {
        /// Prepared memory: the contents are `bytes[..len]`, the rest is left from earlier use.
        bytes: Vec<u8>,
        len: usize,
        limit: usize,
    }

    impl VecBuffer {
        /// An empty buffer that holds at most `limit` bytes.
        pub fn new(limit: usize) -> Self {
            Self::from_vec(Vec::new(), limit)
        }

        /// A buffer holding `bytes` (moved, not copied) that grows to at most `limit` bytes.
        /// Cleared, it keeps their memory for the next contents:
        ///
        /// ```
        /// use tinyproto_core::buffer::{Buffer, VecBuffer};
        /// let mut buf = VecBuffer::from_vec(vec![7; 4096], 1 << 20);
        /// buf.clear();
        /// assert_eq!(buf.reusable_len(), 4096);
        /// ```
        pub fn from_vec(bytes: Vec<u8>, limit: usize) -> Self {
            Self {
                len: bytes.len(),
                bytes,
                limit,
            }
        }

        /// Takes the contents out, leaving the buffer empty.
        pub fn take(&mut self) -> Vec<u8> {
            let len = self.len;
            let mut bytes = self.take_memory();
            bytes.truncate(len);
            bytes
        }

        /// Takes all the prepared memory out (the contents and what is left from earlier
        /// use, as the `Vec`'s length), leaving the buffer empty; for reuse elsewhere.
        pub fn take_memory(&mut self) -> Vec<u8> {
            self.len = 0;
            core::mem::take(&mut self.bytes)
        }

        /// The contents as a `Vec`.
        pub fn into_vec(mut self) -> Vec<u8> {
            self.take()
        }

        /// Bytes currently reserved.
        #[inline]
        pub fn capacity(&self) -> usize {
            self.bytes.capacity()
        }
    }

    impl Buffer for VecBuffer {
        #[inline]
        fn limit(&self) -> usize {
            self.limit
        }
        #[inline]
        fn as_slice(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
        #[inline]
        fn as_mut_slice(&mut self) -> &mut [u8] {
            &mut self.bytes[..self.len]
        }
        #[inline]
        fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
            // Within the prepared memory (a clear, a message as long as the last): no call.
            if len <= self.bytes.len() && len <= self.limit {
                self.len = len;
                return Ok(());
            }
            self.prepare(len)
        }
        #[inline]
        fn reusable_len(&self) -> usize {
            self.bytes.len()
        }
    }

    impl VecBuffer {
        /// [`Buffer::resize`] past the prepared memory: reserves and zero-fills.
        #[cold]
        fn prepare(&mut self, len: usize) -> Result<(), CapacityError> {
            if len > self.limit {
                return Err(capacity_error(len, self.limit));
            }
            if len > self.bytes.capacity() {
                let capacity = len
                    .max(self.bytes.capacity().saturating_mul(2))
                    .min(self.limit);
                self.bytes.reserve_exact(capacity - self.bytes.len());
            }
            if len > self.bytes.len() {
                self.bytes.resize(len, 0);
            }
            self.len = len;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(buf: &mut dyn Buffer) {
        buf.set(b"abc").unwrap();
        buf.extend_from_slice(b"de").unwrap();
        assert_eq!(buf.as_slice(), b"abcde");
        let limit = buf.limit();
        let err = buf.resize(limit + 1).unwrap_err();
        assert_eq!(err, capacity_error(limit + 1, limit));
        assert_eq!(buf.as_slice(), b"abcde", "a failed resize changes nothing");
        buf.clear();
        assert!(buf.as_slice().is_empty());
    }

    #[test]
    fn fixed_buffers_behave_alike() {
        exercise(&mut heapless::Vec::<u8, 8>::new());
        let mut storage = [0u8; 8];
        exercise(&mut SliceBuffer::new(&mut storage));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn vec_buffer_stays_under_its_limit() {
        let mut buf = VecBuffer::new(8);
        exercise(&mut buf);
        buf.resize(3).unwrap();
        buf.resize(5).unwrap();
        assert!(buf.capacity() <= 8, "doubling stops at the limit");
    }

    /// Reads of random sizes (up to the window offered) through the policy: before each read,
    /// the memory prepared is at most 1.25 × what arrived + `GROW_STEP`, and every window
    /// offers room for at least one byte.
    #[test]
    fn receive_window_prepares_at_most_a_quarter_more_than_received() {
        let mut rng = tinyproto_testkit::Rng(1);
        for announced in [1, 1000, GROW_STEP + 1, 3 << 20, 60 << 20, u32::MAX as usize] {
            let (mut filled, mut prepared, mut windows) = (0, 0, 0);
            while filled < announced && windows < 400 {
                if prepared <= filled {
                    prepared = receive_window(filled, announced - filled, prepared);
                    windows += 1;
                }
                assert!(prepared > filled && prepared <= announced);
                assert!(
                    prepared <= filled + filled / 4 + GROW_STEP,
                    "{prepared} for {filled}"
                );
                filled += 1 + rng.below(prepared - filled);
            }
            assert!(
                windows < 400 || announced > 1 << 30,
                "{announced}: {windows} windows"
            );
        }
    }

    #[test]
    fn receive_window_uses_ready_memory_up_to_the_end_of_the_message() {
        assert_eq!(receive_window(0, 100, 4096), 100);
        assert_eq!(
            receive_window(10, 1 << 20, 4096),
            4096,
            "all of it, at once"
        );
        assert_eq!(receive_window(4096, 1 << 20, 4096), 4096 + GROW_STEP);
    }

    /// The policy with a real `VecBuffer`: its prepared length follows the bound, and its
    /// capacity (doubling) stays under twice the length and under the limit.
    #[cfg(feature = "alloc")]
    #[test]
    fn vec_buffer_grown_by_the_policy_prepares_little_ahead_of_the_bytes() {
        let mut rng = tinyproto_testkit::Rng(2);
        let announced = if cfg!(miri) { 100_000 } else { 5 << 20 };
        let mut buf = VecBuffer::new(announced);
        let mut filled = 0;
        while filled < announced {
            if buf.as_slice().len() <= filled {
                let len = receive_window(filled, announced - filled, buf.reusable_len());
                buf.resize(len).unwrap();
            }
            let prepared = buf.reusable_len();
            assert!(prepared <= filled + filled / 4 + GROW_STEP);
            assert!(buf.capacity() <= (2 * prepared).min(announced));
            filled += 1 + rng.below(buf.as_slice().len() - filled);
        }
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn vec_buffer_keeps_prepared_memory_and_never_shows_old_bytes_as_contents() {
        let mut buf = VecBuffer::from_vec(b"old message".to_vec(), 64);
        let at = buf.as_slice().as_ptr();
        buf.clear();
        assert_eq!((buf.as_slice(), buf.reusable_len()), (&b""[..], 11));
        buf.extend_from_slice(b"new").unwrap();
        assert_eq!(buf.as_slice(), b"new");
        assert_eq!(
            buf.as_slice().as_ptr(),
            at,
            "the same memory, not a new allocation"
        );
        assert_eq!(buf.take(), b"new", "taken: the contents only");
        assert_eq!((buf.as_slice().len(), buf.reusable_len()), (0, 0));

        let mut buf = VecBuffer::from_vec(b"abcdef".to_vec(), 64);
        buf.resize(2).unwrap();
        assert_eq!(buf.take_memory(), b"abcdef", "all of the prepared memory");
        assert!(buf.as_slice().is_empty());
    }
}
