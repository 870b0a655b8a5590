//! How the I/O thread answers a connection's hook waiting for a send or a receive: one
//! reusable slot per connection (the hooks of a connection run one at a time, so at most one
//! of them waits), which costs no allocation per call.

use crate::error::ConnError;
use crate::sync::{lock, wait_timeout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a waiting hook gets.
#[derive(Debug)]
pub(crate) enum HookAnswer {
    Sent(Result<(), ConnError>),
    Received(Result<Vec<u8>, ConnError>),
}

/// The one answer a connection's hook waits for.
#[derive(Debug, Default)]
pub(crate) struct HookSlot {
    answer: Mutex<Option<HookAnswer>>,
    ready: Condvar,
    /// A hook sleeps in [`HookSlot::wait`] (changed only with `answer` locked): a hook that
    /// pumps its own connection (thread-per-connection mode) never sleeps here, and its
    /// answers then cost no wake-up system call.
    sleeping: AtomicBool,
}

impl HookSlot {
    pub(crate) fn put(&self, answer: HookAnswer) {
        let mut slot = lock(&self.answer);
        *slot = Some(answer);
        if self.sleeping.load(Ordering::Relaxed) {
            self.ready.notify_one();
        }
        drop(slot);
    }

    /// The answer, if it is there.
    pub(crate) fn try_take(&self) -> Option<HookAnswer> {
        lock(&self.answer).take()
    }

    /// Waits for the answer, at most until `deadline`; `None` when it passed.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<HookAnswer> {
        let mut answer = lock(&self.answer);
        loop {
            if let Some(answer) = answer.take() {
                self.sleeping.store(false, Ordering::Relaxed);
                return Some(answer);
            }
            self.sleeping.store(true, Ordering::Relaxed);
            answer = match deadline {
                None => self.ready.wait(answer).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        self.sleeping.store(false, Ordering::Relaxed);
                        return None;
                    }
                    wait_timeout(&self.ready, answer, left)
                }
            };
        }
    }
}
