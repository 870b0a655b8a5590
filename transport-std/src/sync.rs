//! Small helpers for the threads of a server or client: a lock and a wait that survive a panic
//! elsewhere, and whether the caller is an I/O thread.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Locks `mutex`; a panic elsewhere while it was held does not make it unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `condvar` at most `limit`, given `guard` locked; returns it locked again. A panic
/// elsewhere while its mutex was held does not make it unusable.
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    limit: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, limit) {
        Ok((guard, _)) => guard,
        Err(e) => e.into_inner().0,
    }
}

thread_local! {
    /// Set on I/O threads: waiting there for an answer from the I/O thread would deadlock.
    static ON_IO_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as an I/O thread.
pub(crate) fn mark_io_thread() {
    ON_IO_THREAD.set(true);
}

/// Marks the calling thread as a connection's own thread (thread-per-connection mode): like an
/// I/O thread, it must not wait for an answer that only it can bring.
pub(crate) fn mark_conn_thread() {
    ON_IO_THREAD.set(true);
}

/// Whether the caller runs on an I/O thread (inside an inline hook).
pub(crate) fn on_io_thread() -> bool {
    ON_IO_THREAD.get()
}
