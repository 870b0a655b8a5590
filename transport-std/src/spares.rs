//! Memory kept from messages sent, to receive later messages into: a received message then
//! needs no fresh allocation, and no zero-filling of it (safe Rust cannot read a socket into
//! uninitialised memory through `Read::read`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Smallest buffer worth keeping: below this, allocating and zero-filling cost less than the
/// bookkeeping.
pub(crate) const SPARE_MIN: usize = 64 * 1024;

/// Spare buffers up to a total size, shared by the connections of one I/O thread (or owned by
/// one [`TcpConnection`](crate::TcpConnection)). A spare `Vec`'s length is how much of it is
/// prepared (initialised) memory.
#[derive(Clone)]
pub(crate) struct Spares(Arc<Shared>);

struct Shared {
    list: Mutex<List>,
    /// Prepared memory of the largest spare, kept with `list` locked: a receive asks for it
    /// with every message, without the lock.
    largest: AtomicUsize,
}

struct List {
    bufs: Vec<Vec<u8>>,
    /// Capacity of the buffers held.
    held: usize,
    limit: usize,
}

impl std::fmt::Debug for Spares {
    /// The sizes only, not megabytes of contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = self.lock();
        f.debug_struct("Spares")
            .field("count", &list.bufs.len())
            .field("held", &list.held)
            .field("limit", &list.limit)
            .finish()
    }
}

impl Spares {
    /// Keeps at most `limit` bytes (0: keeps nothing).
    pub(crate) fn new(limit: usize) -> Self {
        Self(Arc::new(Shared {
            list: Mutex::new(List {
                bufs: Vec::new(),
                held: 0,
                limit,
            }),
            largest: AtomicUsize::new(0),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, List> {
        self.0.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the largest spare of `list` (locked) for [`Spares::largest`].
    fn note_largest(&self, list: &List) {
        let largest = list.bufs.iter().map(Vec::len).max().unwrap_or(0);
        self.0.largest.store(largest, Ordering::Relaxed);
    }

    /// Keeps `buf` for reuse if it is large enough and fits under the limit; else frees it.
    pub(crate) fn put(&self, buf: Vec<u8>) {
        if buf.len() < SPARE_MIN {
            return;
        }
        let mut list = self.lock();
        if list.held + buf.capacity() <= list.limit {
            list.held += buf.capacity();
            list.bufs.push(buf);
            self.note_largest(&list);
        }
    }

    /// The spare with the most prepared memory, if it has more than `than` bytes.
    pub(crate) fn take_larger(&self, than: usize) -> Option<Vec<u8>> {
        let mut list = self.lock();
        let (at, _) = list
            .bufs
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| b.len())
            .filter(|(_, b)| b.len() > than)?;
        let buf = list.bufs.swap_remove(at);
        list.held -= buf.capacity();
        self.note_largest(&list);
        Some(buf)
    }

    /// Prepared memory of the largest spare (0 without one).
    pub(crate) fn largest(&self) -> usize {
        self.0.largest.load(Ordering::Relaxed)
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_large_buffers_under_the_limit_and_hands_out_the_largest() {
        let spares = Spares::new(3 * SPARE_MIN);
        spares.put(vec![0; SPARE_MIN - 1]);
        assert_eq!(spares.held(), 0, "too small to keep");
        spares.put(vec![1; SPARE_MIN]);
        spares.put(vec![2; 2 * SPARE_MIN]);
        spares.put(vec![3; SPARE_MIN]);
        assert_eq!(
            spares.held(),
            3 * SPARE_MIN,
            "the last one is over the limit"
        );
        assert_eq!(spares.take_larger(2 * SPARE_MIN), None);
        assert_eq!(spares.largest(), 2 * SPARE_MIN);
        let largest = spares.take_larger(SPARE_MIN).unwrap();
        assert_eq!(spares.largest(), SPARE_MIN);
        assert_eq!((largest.len(), largest[0]), (2 * SPARE_MIN, 2));
        assert_eq!(spares.held(), SPARE_MIN);
        assert!(Spares::new(0).take_larger(0).is_none());
    }
}
