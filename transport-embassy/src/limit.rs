//! The connection limit: slots counted across every socket of a server's pool.
//!
//! The count sits in a critical-section mutex, not an atomic: taking a slot is a
//! compare-and-increment, and targets without compare-and-swap atomics (`thumbv6m`: Cortex-M0,
//! M0+) have none. A critical section is correct wherever the pool's tasks run (one executor,
//! interrupt executors at several priorities, several cores) and costs a few instructions per
//! accept and per close. The application links the `critical-section` implementation, as
//! embassy firmware does anyway (embassy-executor takes critical sections on such targets,
//! embassy's HALs and embassy-sync's wakers on all).

use core::cell::Cell;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;

/// The count of connections served now.
type Count = Mutex<CriticalSectionRawMutex, Cell<usize>>;

/// Connections served now, and the most there may be.
#[derive(Debug)]
pub(crate) struct Limit {
    active: Count,
    max: usize,
}

/// One connection's place under the [`Limit`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'l>(&'l Count);

impl Limit {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            active: Mutex::new(Cell::new(0)),
            max,
        }
    }

    /// A slot, or `None` when `max` connections are served.
    pub(crate) fn take(&self) -> Option<Slot<'_>> {
        self.active.lock(|active| {
            let n = active.get();
            (n < self.max).then(|| {
                active.set(n + 1);
                Slot(&self.active)
            })
        })
    }

    pub(crate) fn active(&self) -> usize {
        self.active.lock(Cell::get)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Every slot was counted when taken, so the count is at least 1 here.
        self.0.lock(|active| active.set(active.get() - 1));
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
    fn tasks_on_several_threads_never_hold_more_slots_than_the_limit() {
        extern crate std;
        let limit = Limit::new(2);
        let held = Mutex::<CriticalSectionRawMutex, _>::new(Cell::new((0usize, 0usize)));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2_000 {
                        let Some(slot) = limit.take() else { continue };
                        held.lock(|h| {
                            let (now, most) = h.get();
                            h.set((now + 1, most.max(now + 1)));
                        });
                        held.lock(|h| h.set((h.get().0 - 1, h.get().1)));
                        drop(slot);
                    }
                });
            }
        });
        let (now, most) = held.lock(Cell::get);
        assert_eq!(now, 0);
        assert!(most <= 2, "{most} slots held at once, above the limit");
        assert_eq!(limit.active(), 0, "every slot came back");
    }

    #[test]
    fn a_limit_of_zero_refuses_everyone() {
        assert!(Limit::new(0).take().is_none());
    }
}
