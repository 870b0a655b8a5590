//! Accepting connections: a bounded number per readiness event, retried on a timer when the
//! process runs out of descriptors, and the refusals at the connection limit (PROTOCOL.md Q1),
//! run by the core's [`Refusal`] (the same machine as every transport's), of which only a few
//! may linger.

use super::{Notice, Notices, Slot, State};
use crate::transport::SocketIo;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::cmp::Reverse;
use std::io::ErrorKind;
use std::net::Shutdown;
use tinyproto_core::refusal::{Refusal, RefusalStep, LINGER_MS};

/// Most refused connections lingering at once (each holds a descriptor); beyond, a refusal
/// does not linger: it is closed right after its answer (and the init byte, if it is there).
pub(crate) const MAX_LINGERING_REFUSALS: usize = 64;
/// Most connections accepted per readiness event before the others get their turn.
const ACCEPTS_PER_EVENT: usize = 64;
/// When accepting failed (out of descriptors or memory) or the server's hooks lag behind,
/// accepting is tried again after this long: the listener's readiness does not fire again for
/// connections that already wait.
const ACCEPT_RETRY_MS: u64 = 50;

impl State {
    /// Accepts what waits on listener `i`, up to [`ACCEPTS_PER_EVENT`]; the rest is accepted
    /// on a retry (the listener's readiness is edge-triggered and does not fire again).
    pub(super) fn accept(&mut self, i: usize) {
        for _ in 0..ACCEPTS_PER_EVENT {
            if self.notices.as_ref().is_some_and(Notices::backlogged) {
                return self.retry_accept(ACCEPT_RETRY_MS);
            }
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if self.max_connections.is_some_and(|max| self.live >= max) {
                        self.refuse(stream);
                        self.notify(Notice::Refused(peer));
                    } else {
                        self.add(stream, peer, None);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                // Out of descriptors or memory: try again soon rather than wait for the next
                // connection to make the listener ready.
                Err(_) => return self.retry_accept(ACCEPT_RETRY_MS),
            }
        }
        self.retry_accept(0);
    }

    fn retry_accept(&mut self, after_ms: u64) {
        let at = self.now() + after_ms;
        self.accept_at = Some(self.accept_at.map_or(at, |t| t.min(at)));
    }

    /// Accepts on every listener once the retry is due.
    pub(super) fn accept_retry(&mut self) {
        if self.accept_at.is_some_and(|at| at <= self.now()) {
            self.accept_at = None;
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
    }

    /// PROTOCOL.md Q1: a server at its limit writes the single byte `0xfe` and closes. Our
    /// side is shut down once the answer is out, and the peer's close awaited (up to
    /// [`LINGER_MS`]), so that its unread init byte does not turn our close into a reset that
    /// could destroy the `0xfe`.
    fn refuse(&mut self, mut stream: TcpStream) {
        let now = self.now();
        let linger_ms = if self.refusing < MAX_LINGERING_REFUSALS {
            LINGER_MS
        } else {
            0
        };
        let mut refusal = Refusal::new(now, linger_ms);
        if refusal_step(&mut stream, &mut refusal, now) {
            return;
        }
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if (self.poll.registry())
            .register(&mut stream, Token(key), interest)
            .is_err()
        {
            return;
        }
        if let Some(at) = refusal.poll_at() {
            self.timers.push(Reverse((at, key)));
        }
        entry.insert(Slot::Refusing { stream, refusal });
        self.refusing += 1;
    }

    /// Moves refusal `key` on (its socket is ready, or its deadline came), and closes it once
    /// it is done.
    pub(super) fn poll_refusal(&mut self, key: usize) {
        let now = self.now();
        if let Some(Slot::Refusing { stream, refusal }) = self.slots.get_mut(key) {
            if refusal_step(stream, refusal, now) {
                self.remove_refusal(key);
            }
        }
    }

    pub(super) fn remove_refusal(&mut self, key: usize) {
        if let Some(Slot::Refusing { mut stream, .. }) = self.slots.try_remove(key) {
            self.refusing -= 1;
            let _ = self.poll.registry().deregister(&mut stream);
        }
    }
}

/// One poll of `refusal` over `stream`, half-closing once the answer is out; true when it is
/// done and the stream is to be closed. Both modes' acceptors refuse with it.
pub(crate) fn refusal_step(stream: &mut TcpStream, refusal: &mut Refusal, now: u64) -> bool {
    match refusal.poll(&mut SocketIo::new(stream, true), now) {
        RefusalStep::Answered => {
            let _ = stream.shutdown(Shutdown::Write);
            false
        }
        RefusalStep::Waiting => false,
        RefusalStep::Done { .. } => true,
    }
}
