//! The memory all connections of one server or client may hold in received messages
//! together, and what happens at the limit.
//!
//! A message is counted from its header (its announced length: the peer may send all of it)
//! until its `transmission_received` hook returns, or until a hook's `receive` takes it. A
//! header that does not fit in what is left is refused like an oversize one: the peer reads
//! `0x00` (a normal refusal, "too large"), sends no payload, and the connection goes on in
//! sync. Refusing rather than pausing keeps every peer's wait bounded and the decision at the
//! header, before any payload memory is committed.

/// The budget of one I/O thread: a limit and what the connections hold of it.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }

    /// The largest message a connection may start receiving now.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// A holder that held `held` bytes now holds `now`.
    pub(crate) fn settle(&mut self, held: &mut usize, now: usize) {
        self.used = self.used - *held + now;
        *held = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_what_the_holders_leave() {
        let mut budget = Budget::new(100);
        let (mut a, mut b) = (0, 0);
        budget.settle(&mut a, 60);
        budget.settle(&mut b, 30);
        assert_eq!(budget.room(), 10);
        budget.settle(&mut a, 80);
        assert_eq!(budget.room(), 0, "over the limit: no room, no underflow");
        budget.settle(&mut a, 0);
        budget.settle(&mut b, 0);
        assert_eq!((budget.room(), a, b), (100, 0, 0));
    }
}
