//! The connection limit: slots counted across every socket of a server's pool.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Connections served now, and the most there may be.
#[derive(Debug)]
pub(crate) struct Limit {
    active: AtomicUsize,
    max: usize,
}

/// One connection's place under the [`Limit`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'l>(&'l AtomicUsize);

impl Limit {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            active: AtomicUsize::new(0),
            max,
        }
    }

    /// A slot, or `None` when `max` connections are served.
    pub(crate) fn take(&self) -> Option<Slot<'_>> {
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(&self.active))
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_limit_and_come_back_when_dropped() {
        let limit = Limit::new(2);
        let a = limit.take().expect("first");
        let b = limit.take().expect("second");
        assert!(limit.take().is_none(), "a third is over the limit");
        assert_eq!(limit.active(), 2);
        drop(a);
        let c = limit.take().expect("a freed slot is taken again");
        assert!(limit.take().is_none());
        drop((b, c));
        assert_eq!(limit.active(), 0);
    }

    #[test]
    fn a_limit_of_zero_refuses_everyone() {
        assert!(Limit::new(0).take().is_none());
    }
}
