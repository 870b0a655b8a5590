//! The watchdog of a server or client in thread-per-connection mode whose connections have time
//! limits: one thread that ends the protocol's time limits of the connections whose thread
//! waits in a read that no timeout ends, so that such a read arms no kernel timer (a read
//! timeout costs one per blocking read: about one and a half per side of a 16 B echo).
//!
//! A connection thread reads without a timeout only when nothing is due sooner than [`SLICE`]
//! and no tick is due (else its read times out by itself). The watchdog looks at every
//! connection at least once per [`SLICE`]: it sees any time limit such a read left to it
//! before the limit is due, and then waits for exactly that limit. A time limit that another
//! thread starts meanwhile and that is due sooner than [`SLICE`] pokes it to look at once.

use super::{ThreadConn, SLICE};
use crate::sync::{lock, wait_timeout};
use std::io;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

/// How long the watchdog thread stays without connections before it ends (a new connection
/// starts another): connections that come and go one after the other do not start a thread
/// each.
const LINGER: Duration = Duration::from_secs(1);

/// The watchdog of one server or client (shared with its thread while that runs).
#[derive(Default)]
pub(super) struct Watchdog {
    state: Mutex<State>,
    /// Signalled on a poke, and when a connection is added.
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// The connections watched (a dropped one leaves at the next look).
    conns: Vec<Weak<ThreadConn>>,
    /// Look again at once: a time limit may be due before the next look.
    poked: bool,
    /// The thread runs.
    running: bool,
}

impl Watchdog {
    /// Watches `conn` from now on; starts the thread if it does not run.
    pub(super) fn watch(self: &Arc<Self>, conn: &Arc<ThreadConn>) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.conns.push(Arc::downgrade(conn));
        if state.running {
            self.wake.notify_one();
            return Ok(());
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("tinyproto-watchdog".into())
            .spawn(move || me.run())?;
        state.running = true;
        Ok(())
    }

    /// Makes the thread look at every connection at once.
    pub(super) fn poke(&self) {
        lock(&self.state).poked = true;
        self.wake.notify_one();
    }

    /// The thread: looks at the connections at least once per [`SLICE`], or sooner when a time
    /// limit is due sooner or it is poked; ends after [`LINGER`] without connections.
    fn run(self: Arc<Self>) {
        let _ended = Ended(&self);
        let mut state = lock(&self.state);
        loop {
            state.poked = false;
            let conns: Vec<Arc<ThreadConn>> =
                state.conns.iter().filter_map(Weak::upgrade).collect();
            state.conns.retain(|conn| conn.strong_count() > 0);
            if conns.is_empty() {
                state = wait_timeout(&self.wake, state, LINGER);
                if state.conns.is_empty() {
                    state.running = false;
                    return;
                }
                continue;
            }
            drop(state);
            let next = (conns.iter())
                .filter_map(|conn| conn.watch())
                .fold(SLICE, Duration::min);
            // A connection whose last reference this was is dropped here, without the lock.
            drop(conns);
            state = lock(&self.state);
            if !state.poked {
                state = wait_timeout(&self.wake, state, next);
            }
        }
    }
}

/// Marks the thread as not running when it ends by a panic (it ends otherwise only under the
/// state's lock, marking it itself), so that the next connection starts another.
struct Ended<'a>(&'a Watchdog);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(&self.0.state).running = false;
        }
    }
}
