//! How the I/O thread answers a connection's hook waiting for a send or a receive: one
//! reusable slot per connection (the hooks of a connection run one at a time, so at most one
//! of them waits), which costs no allocation per call.

use crate::error::{CloseReason, ConnError};
use crate::sync::lock;
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
}

impl HookSlot {
    pub(crate) fn put(&self, answer: HookAnswer) {
        *lock(&self.answer) = Some(answer);
        self.ready.notify_one();
    }

    /// Waits for the answer, at most until `deadline`; `None` when it passed.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<HookAnswer> {
        let mut answer = lock(&self.answer);
        loop {
            if let Some(answer) = answer.take() {
                return Some(answer);
            }
            answer = match deadline {
                None => self.ready.wait(answer).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        return None;
                    }
                    let waited = self.ready.wait_timeout(answer, left);
                    waited.unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Waits for a send's answer.
    pub(crate) fn wait_sent(&self) -> Result<(), ConnError> {
        match self.wait(None) {
            Some(HookAnswer::Sent(result)) => result,
            _ => Err(ConnError::Closed(CloseReason::Shutdown)),
        }
    }
}
